from django.apps import AppConfig


class PersonsConfig(AppConfig):
    name = "apps.persons"
    label = "persons"

    def ready(self) -> None:
        from apps.ingest.hooks import written_subscribe
        from apps.persons.services import person_tables_register, persons_identify

        # Merges are decided from each batch before the flush settles it (apps/ingest/hooks.py).
        written_subscribe(name="persons", receiver=persons_identify)
        # Deletion (apps/ingest/deletion.py) learns how to clear the tables of persons.
        person_tables_register()
