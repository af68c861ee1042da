"""Older versions kept the secret of a personal key created without JavaScript in the
session until the next settings page; take it out of every session that still has it."""

from django.db import migrations

OLD_SESSION_KEY = "projects:new_personal_key"


def sessions_forget_new_key_secrets(apps, schema_editor) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.all().iterator():
        data = store.decode(session.session_data)
        if OLD_SESSION_KEY in data:
            del data[OLD_SESSION_KEY]
            session.session_data = store.encode(data)
            session.save(update_fields=["session_data"])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(sessions_forget_new_key_secrets, migrations.RunPython.noop)]
