"""One router per resource (full-stack-fastapi-template's api/routes)."""
