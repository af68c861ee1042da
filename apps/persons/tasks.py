from celery import shared_task

from apps.persons.models import PersonDeletion
from apps.persons.services import person_deletion_run


# Queued by DELETE .../persons/<id>; runs at once on a worker. A failure is recorded on the
# deletion (its status and error) and can be run again from the admin or a shell.
@shared_task(name="persons.delete_person", ignore_result=True)
def delete_person(deletion_id: str) -> None:
    deletion = PersonDeletion.objects.filter(id=deletion_id, status=PersonDeletion.Status.QUEUED).first()
    if deletion is not None:
        person_deletion_run(deletion=deletion)
