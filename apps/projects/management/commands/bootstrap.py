import json

from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.projects.services import user_bootstrap


class Command(BaseCommand):
    help = (
        "Create or reuse a user, a project they own, its ingest key and a personal API key. "
        "Idempotent: run it again to reset the password and get a fresh personal key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--project", required=True, help="Project name.")
        parser.add_argument(
            "--superuser",
            action="store_true",
            help="Make the user a superuser (every project, user and key in the admin). "
            "Without it the user is staff and sees only their own projects there.",
        )
        parser.add_argument("--json", action="store_true", help="Print {project_id, api_key, personal_api_key} as JSON.")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)  # a fresh install works at once
        result = user_bootstrap(
            username=options["username"],
            password=options["password"],
            project_name=options["project"],
            superuser=options["superuser"],
        )
        if options["json"]:
            payload = {
                "project_id": result.project.id,
                "api_key": result.project.api_key,
                "personal_api_key": result.personal_api_key,
            }
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(
            f"User {result.user.username} ({'created' if result.created_user else 'existing'}, "
            f"{'superuser' if result.user.is_superuser else 'staff, not a superuser'}), "
            f"project {result.project.name!r} id={result.project.id} ({'created' if result.created_project else 'existing'})\n"
            f"  ingest API key:   {result.project.api_key}\n"
            f"  personal API key: {result.personal_api_key}  (shown once)"
        )
