from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "webapp.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from webapp.catalog import signals  # noqa: F401  (vectors follow deletions and edits)
        import workers.app  # noqa: F401  (tasks queued by the web go to StreetShop's broker, not a default one)
