"""Alembic migrations of the store's schema (service/store/schema.py), applied by
service.store.upgrade_schema. One file per revision in versions/, never edited once released."""
