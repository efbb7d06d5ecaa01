"""``python manage.py ensure_admin``: a merchandiser account for a fresh install.

When no superuser exists, creates ``admin`` with a random password, stored in
var/admin_password (readable by this user only) and printed once.
"""
from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account with a generated password when there is none."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options):
        users = get_user_model()
        password_file = settings.VAR_DIR / "admin_password"
        if users.objects.filter(is_superuser=True).exists():
            if password_file.exists():
                self.stdout.write(f"admin account exists; its generated password is in {password_file}")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(options["username"], "", password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(
            f"created admin account '{options['username']}' with password {password} (also in {password_file})"
        ))
