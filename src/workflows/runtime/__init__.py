"""Runtime vocabulary shared with LlamaIndex Workflows (``workflows.runtime.types``).

This package's runtime lives in private modules; only the names user code imports
from these paths are provided here.
"""

__all__: list[str] = []
