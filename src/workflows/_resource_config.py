"""Config-backed resources: a pydantic model filled from (a part of) a JSON file.

::

    class ClassifierConfig(BaseModel):
        categories: list[str]
        threshold: float

    @step
    async def classify(
        self,
        ev: StartEvent,
        config: Annotated[ClassifierConfig, ResourceConfig(config_file="classifier.json")],
    ) -> StopEvent: ...

The model class is the ``T`` of ``Annotated[T, ResourceConfig(...)]``. A relative path is
taken from the working directory the first time the file is looked at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from ._resource_descriptor import ResourceDescriptor
    from ._resource_manager import ResourceManager

B = TypeVar("B", bound=BaseModel)


class _ResourceConfig(Generic[B]):
    """A resource read from a JSON file into a pydantic model; see ``ResourceConfig()``."""

    def __init__(
        self,
        config_file: str,
        path_selector: str | None,
        cls_factory: type[B] | None = None,
        label: str | None = None,
        description: str | None = None,
    ) -> None:
        if Path(config_file).suffix != ".json":
            raise ValueError("Only JSON files can be used to load Pydantic-based resources.")
        self._given_file = config_file
        self._absolute_file: str | None = None
        self.path_selector = path_selector
        self.cls_factory = cls_factory
        self.label = label
        self.description = description

    def __repr__(self) -> str:
        return f"ResourceConfig({self.name!r})"

    @property
    def config_file(self) -> str:
        """Absolute path of the file, fixed the first time it is asked for.

        Raises:
            FileNotFoundError: no such file (relative to the working directory).
        """
        if self._absolute_file is None:
            path = Path(self._given_file)
            if not path.is_file():
                raise FileNotFoundError(f"No such file: {self._given_file}")
            self._absolute_file = str(path.resolve())
        return self._absolute_file

    @property
    def name(self) -> str:
        """The file as given, plus ``.<path_selector>`` when there is one."""
        if self.path_selector is None:
            return self._given_file
        return f"{self._given_file}.{self.path_selector}"

    @property
    def cache(self) -> bool:
        """Always True: a config is read once per manager."""
        return True

    def call(self) -> B:
        """Read the file and validate the selected object into the model.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: ``path_selector`` does not lead to a JSON object, or no model class
                is known yet.
            pydantic.ValidationError: the data does not fit the model.
        """
        data = _load_section(self.config_file, self.path_selector)
        if self.cls_factory is None:
            raise ValueError("Class factory should be set to a BaseModel subclass before calling")
        return self.cls_factory.model_validate(data)

    async def resolve(self, manager: ResourceManager) -> B:
        """Load the model (the manager is not needed: a config has no dependencies)."""
        return self.call()

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Take the model class from the annotation, unless one is already set."""
        if self.cls_factory is None:
            self.cls_factory = type_annotation

    def set_localns(self, localns: dict[str, Any] | None) -> None:
        """Ignored: a config has no annotations of its own to resolve."""
        return None

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, type | None]]:
        """Always empty."""
        return []


def ResourceConfig(
    config_file: str,
    path_selector: str | None = None,
    label: str | None = None,
    description: str | None = None,
) -> _ResourceConfig:
    """Declare a step parameter filled from a JSON file, validated into its pydantic model.

    Args:
        config_file: path of a ``.json`` file (relative paths are taken from the working
            directory when the file is first read).
        path_selector: dot-separated keys leading to a nested object, e.g.
            ``"models.classifier"``; the whole file when omitted.
        label: short display name (for graph drawings).
        description: longer text saying what the configuration is for.

    Returns:
        A descriptor to place in ``Annotated[Model, ...]``; the value is always cached.

    Raises:
        ValueError: ``config_file`` does not end in ``.json``.

    A missing file, a selector that leads nowhere, or data that does not fit the model
    fail ``Workflow.validate()`` (and so ``run()``) with ``WorkflowValidationError``.

    Example::

        class MyWorkflow(Workflow):
            @step
            async def classify(
                self,
                ev: StartEvent,
                config: Annotated[
                    ClassifierConfig,
                    ResourceConfig(config_file="classifier.json", label="Classifier"),
                ],
            ) -> StopEvent:
                return StopEvent(result=config.categories)
    """
    return _ResourceConfig(
        config_file=config_file,
        path_selector=path_selector,
        label=label,
        description=description,
    )


def _load_section(absolute_file: str, path_selector: str | None) -> Any:
    with open(absolute_file, encoding="utf-8") as handle:
        data = json.load(handle)
    if path_selector is None:
        return data
    walked: list[str] = []
    for key in path_selector.split("."):
        walked.append(key)
        found = data.get(key) if isinstance(data, dict) else None
        if not isinstance(found, dict):
            raise ValueError(
                f"Expected dictionary for configuration from {absolute_file} at path "
                f"{'.'.join(walked)}, got: {type(found)}"
            )
        data = found
    return data
