"""Optional integrations with other libraries; each module imports its library lazily."""

__all__: list[str] = []
