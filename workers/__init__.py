"""StreetShop's Celery workers: the app in workers.app, the tasks in workers.tasks."""
