"""``workflows.resource``: the API of llama-index-workflows 2.26.1, run in real workflows.

Resources (``Resource(factory)``), config resources (``ResourceConfig``), the
``ResourceManager`` (caching, sharing, scopes, cycles) and the resource checks of
``Workflow.validate()``. Postponed annotations are on, as in most user code.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import types
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from workflows import Context, Workflow, step
from workflows.errors import WorkflowValidationError
from workflows.events import Event, StartEvent, StopEvent
from workflows.resource import (
    Resource,
    ResourceConfig,
    ResourceDefinition,
    ResourceDescriptor,
    ResourceManager,
    validate_step_resources,
)


class Client:
    def __init__(self, tag: str = "") -> None:
        self.tag = tag


class Settings(BaseModel):
    categories: list[str]
    threshold: float


calls: dict[str, int] = {}
seen_first: list[Client] = []


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()
    seen_first.clear()


def _count(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1


def make_sync_client() -> Client:
    _count("sync")
    return Client("sync")


async def make_async_client() -> Client:
    _count("async")
    await asyncio.sleep(0)
    return Client("async")


class Middle(Event):
    pass


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- the public surface ---------------------------------------------------------------


def test_signatures_match_the_reference() -> None:
    import workflows.resource as resource

    expected = {
        resource.Resource: "(factory: 'Callable[..., T]', cache: 'bool' = True) -> '_Resource'",
        resource.ResourceConfig: (
            "(config_file: 'str', path_selector: 'str | None' = None, "
            "label: 'str | None' = None, description: 'str | None' = None) "
            "-> '_ResourceConfig'"
        ),
        ResourceManager.__init__: "(self) -> 'None'",
        ResourceManager.get: "(self, resource: 'ResourceDescriptor') -> 'Any'",
        ResourceManager.get_all: "(self) -> 'dict[str, Any]'",
        ResourceManager.resolution_scope: "(self) -> 'Iterator[None]'",
        ResourceManager.set: "(self, name: 'str', val: 'Any') -> 'None'",
        ResourceDescriptor.resolve: "(self, manager: 'ResourceManager') -> 'Any'",
        ResourceDescriptor.get_dependencies: (
            "(self) -> 'list[tuple[str, ResourceDescriptor, type | None]]'"
        ),
    }
    for func, signature in expected.items():
        assert str(inspect.signature(func)) == signature, func
    assert sorted(ResourceDefinition.model_fields) == ["name", "resource", "type_annotation"]
    assert {"B", "T", "ResourceConfig", "ResourceDefinition", "ResourceDescriptor"} <= set(
        resource.__all__
    )


def test_resource_returns_a_descriptor_named_after_the_factory() -> None:
    cached = Resource(make_sync_client)
    uncached = Resource(make_async_client, cache=False)
    assert isinstance(cached, ResourceDescriptor)
    assert (cached.name, cached.cache) == ("make_sync_client", True)
    assert (uncached.name, uncached.cache) == ("make_async_client", False)
    assert cached.get_dependencies() == []
    with pytest.raises(TypeError, match="callable"):
        Resource(42)


def test_resource_definition_holds_a_descriptor() -> None:
    descriptor = Resource(make_sync_client)
    definition = ResourceDefinition(name="client", resource=descriptor, type_annotation=Client)
    assert definition.resource is descriptor
    assert definition.type_annotation is Client
    with pytest.raises(ValidationError):
        ResourceDefinition(name="client", resource=42)


# --- injection in real runs -----------------------------------------------------------


class SharedClients(Workflow):
    @step
    async def first(
        self,
        ev: StartEvent,
        sync_client: Annotated[Client, Resource(make_sync_client)],
        async_client: Annotated[Client, Resource(make_async_client)],
    ) -> Middle:
        seen_first[:] = [sync_client, async_client]
        return Middle()

    @step
    async def second(
        self,
        ev: Middle,
        sync_client: Annotated[Client, Resource(make_sync_client)],
        async_client: Annotated[Client, Resource(make_async_client)],
    ) -> StopEvent:
        return StopEvent(result=(sync_client, async_client))


async def test_sync_and_async_factories_are_built_once_and_shared_between_steps() -> None:
    sync_client, async_client = await SharedClients().run()
    assert (sync_client.tag, async_client.tag) == ("sync", "async")
    assert seen_first == [sync_client, async_client]
    assert calls == {"sync": 1, "async": 1}


class FreshClients(Workflow):
    @step
    async def first(
        self,
        ev: StartEvent,
        client: Annotated[Client, Resource(make_async_client, cache=False)],
    ) -> Middle:
        seen_first[:] = [client]
        return Middle()

    @step
    async def second(
        self,
        ev: Middle,
        client: Annotated[Client, Resource(make_async_client, cache=False)],
        same_factory: Annotated[Client, Resource(make_async_client, cache=False)],
    ) -> StopEvent:
        return StopEvent(result=(client, same_factory))


async def test_uncached_factory_runs_per_step_call_but_once_within_a_call() -> None:
    manager = ResourceManager()
    client, same_factory = await FreshClients(resource_manager=manager).run()
    assert client is same_factory  # one resolution scope per step call
    assert client is not seen_first[0]
    assert calls == {"async": 2}
    assert manager.get_all() == {}  # nothing cached


class SyncStep(Workflow):
    @step
    def only(
        self, ev: StartEvent, client: Annotated[Client, Resource(make_async_client)]
    ) -> StopEvent:
        return StopEvent(result=client.tag)


async def test_a_plain_def_step_receives_an_async_factory_resource() -> None:
    assert await SyncStep().run() == "async"


async def test_one_manager_shares_cached_resources_between_workflow_instances() -> None:
    manager = ResourceManager()
    first = await SharedClients(resource_manager=manager).run()
    second = await SharedClients(resource_manager=manager).run()
    assert first[0] is second[0] and first[1] is second[1]
    assert calls == {"sync": 1, "async": 1}
    assert manager.get_all() == {"make_sync_client": first[0], "make_async_client": first[1]}

    separate = await SharedClients().run()
    assert separate[0] is not first[0]
    assert calls == {"sync": 2, "async": 2}


async def test_a_value_set_on_the_manager_replaces_the_factory() -> None:
    manager = ResourceManager()
    fake = Client("fake")
    await manager.set("make_sync_client", fake)
    sync_client, _ = await SharedClients(resource_manager=manager).run()
    assert sync_client is fake
    assert calls == {"async": 1}


# --- factories that take resources ----------------------------------------------------


async def test_factories_receive_their_own_resources(tmp_path: Path) -> None:
    config_file = _write_json(tmp_path / "client.json", {"categories": ["a"], "threshold": 0.5})

    class Pool:
        def __init__(self, client: Client, settings: Settings) -> None:
            self.client = client
            self.settings = settings

    async def make_pool(
        client: Annotated[Client, Resource(make_sync_client)],
        settings: Annotated[Settings, ResourceConfig(config_file=str(config_file))],
        unrelated: int = 7,
    ) -> Pool:
        assert unrelated == 7
        return Pool(client, settings)

    class UsesPool(Workflow):
        @step
        async def only(
            self,
            ev: StartEvent,
            pool: Annotated[Pool, Resource(make_pool)],
            client: Annotated[Client, Resource(make_sync_client)],
        ) -> StopEvent:
            return StopEvent(result=(pool, client))

    pool, client = await UsesPool().run()
    assert pool.client is client
    assert pool.settings == Settings(categories=["a"], threshold=0.5)
    assert calls == {"sync": 1}


async def test_a_dependency_cycle_fails_before_any_factory_runs() -> None:
    def make_egg(hen: Any) -> str:
        _count("egg")
        return "egg"

    def make_hen(egg: Annotated[str, Resource(make_egg)]) -> str:
        _count("hen")
        return "hen"

    make_egg.__annotations__["hen"] = Annotated[str, Resource(make_hen)]

    class Farm(Workflow):
        @step
        async def only(self, ev: StartEvent, hen: Annotated[str, Resource(make_hen)]) -> StopEvent:
            return StopEvent(result=hen)

    chain = (
        "test_a_dependency_cycle_fails_before_any_factory_runs.<locals>.make_hen -> "
        "test_a_dependency_cycle_fails_before_any_factory_runs.<locals>.make_egg -> "
        "test_a_dependency_cycle_fails_before_any_factory_runs.<locals>.make_hen"
    )
    with pytest.raises(ValueError) as caught:
        await Farm().run()
    assert str(caught.value) == f"Circular resource dependency detected: {chain}"
    assert calls == {}

    with pytest.raises(WorkflowValidationError) as invalid:
        Farm().validate(validate_resources=True)
    assert str(invalid.value) == (
        "Resource validation failed:\n"
        f"  - In step 'only', parameter 'hen': Circular resource dependency detected: {chain}"
    )


# --- the manager on its own -----------------------------------------------------------


async def test_concurrent_requests_share_one_build_of_a_cached_resource() -> None:
    gate, started = asyncio.Event(), asyncio.Event()

    async def make_slow() -> Client:
        _count("slow")
        started.set()
        await gate.wait()
        return Client("slow")

    manager = ResourceManager()
    descriptor = Resource(make_slow)
    both = asyncio.gather(manager.get(descriptor), manager.get(descriptor))
    await started.wait()
    await asyncio.sleep(0)  # the second request is now waiting for the first build
    gate.set()
    first, second = await both
    assert first is second
    assert calls == {"slow": 1}


async def test_resolution_scope_shares_uncached_values_until_it_ends() -> None:
    manager = ResourceManager()
    fresh = Resource(make_sync_client, cache=False)
    with manager.resolution_scope():
        one = await manager.get(fresh)
        with manager.resolution_scope():  # joins the open scope
            assert await manager.get(fresh) is one
    assert await manager.get(fresh) is not one
    assert calls == {"sync": 2}


async def test_a_failed_build_is_not_cached_and_is_tried_again() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("down")
        return "up"

    manager = ResourceManager()
    with pytest.raises(ConnectionError, match="down"):
        await manager.get(Resource(flaky))
    assert manager.get_all() == {}
    assert await manager.get(Resource(flaky)) == "up"
    assert manager.get_all() == {
        "test_a_failed_build_is_not_cached_and_is_tried_again.<locals>.flaky": "up"
    }


# --- ResourceConfig -------------------------------------------------------------------


def _config_workflow(config: Any) -> type[Workflow]:
    class UsesConfig(Workflow):
        @step
        async def classify(
            self, ev: StartEvent, settings: Annotated[Settings, config]
        ) -> StopEvent:
            return StopEvent(result=settings)

    return UsesConfig


async def test_config_is_loaded_from_a_json_file_and_cached(tmp_path: Path) -> None:
    data = {
        "categories": ["top"],
        "threshold": 1,
        "models": {"classifier": {"categories": ["x", "y"], "threshold": 0.25}},
    }
    config_file = str(_write_json(tmp_path / "settings.json", data))
    manager = ResourceManager()

    whole = await _config_workflow(ResourceConfig(config_file))(resource_manager=manager).run()
    nested_config = ResourceConfig(
        config_file=config_file,
        path_selector="models.classifier",
        label="Classifier",
        description="Categories and threshold",
    )
    nested = await _config_workflow(nested_config)(resource_manager=manager).run()

    assert whole == Settings(categories=["top"], threshold=1.0)
    assert nested == Settings(categories=["x", "y"], threshold=0.25)
    assert (nested_config.label, nested_config.description) == (
        "Classifier",
        "Categories and threshold",
    )
    assert nested_config.cache is True
    assert nested_config.name == f"{config_file}.models.classifier"
    assert set(manager.get_all()) == {config_file, f"{config_file}.models.classifier"}


async def test_a_relative_config_path_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_json(tmp_path / "classifier.json", {"categories": ["a"], "threshold": 0.1})
    monkeypatch.chdir(tmp_path)
    config = ResourceConfig("classifier.json")
    assert await _config_workflow(config)().run() == Settings(categories=["a"], threshold=0.1)
    assert config.config_file == str((tmp_path / "classifier.json").resolve())


def test_only_json_files_are_accepted() -> None:
    with pytest.raises(ValueError, match="Only JSON files"):
        ResourceConfig("settings.yaml")


@pytest.mark.parametrize(
    ("selector", "data", "problem"),
    [
        ("models.missing", {"models": {}}, "at path models.missing, got: <class 'NoneType'>"),
        ("models.count", {"models": {"count": 3}}, "at path models.count, got: <class 'int'>"),
        (None, {"categories": "not a list"}, "2 validation errors for Settings"),
    ],
)
async def test_config_problems_fail_the_run_before_it_starts(
    tmp_path: Path, selector: str | None, data: Any, problem: str
) -> None:
    config_file = _write_json(tmp_path / "bad.json", data)
    workflow = _config_workflow(ResourceConfig(str(config_file), path_selector=selector))()
    with pytest.raises(WorkflowValidationError) as caught:
        await workflow.run()
    message = str(caught.value)
    assert message.startswith(
        "Resource config validation failed:\n  - In step 'classify', parameter 'settings': "
    )
    assert problem in message
    if selector is not None:
        assert f"Expected dictionary for configuration from {config_file.resolve()}" in message


async def test_a_missing_config_file_is_named_in_the_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    with pytest.raises(WorkflowValidationError) as caught:
        await _config_workflow(ResourceConfig(missing))().run()
    assert str(caught.value) == (
        "Resource config validation failed:\n"
        f"  - In step 'classify', parameter 'settings': No such file: {missing}"
    )


async def test_without_validation_a_bad_config_fails_the_step(tmp_path: Path) -> None:
    config_file = _write_json(tmp_path / "bad.json", {"models": {}})
    workflow = _config_workflow(ResourceConfig(str(config_file), path_selector="models.x"))
    with pytest.raises(ValueError, match="at path models.x"):
        await workflow(disable_validation=True).run()


# --- validate_step_resources ----------------------------------------------------------


def test_config_checks_follow_factory_dependencies(tmp_path: Path) -> None:
    missing = str(tmp_path / "nested.json")

    def make_client(settings: Annotated[Settings, ResourceConfig(missing)]) -> Client:
        _count("client")
        return Client()

    class Nested(Workflow):
        @step
        async def only(
            self, ev: StartEvent, client: Annotated[Client, Resource(make_client)]
        ) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowValidationError) as caught:
        validate_step_resources(Nested(disable_validation=True), configs=True, resources=False)
    assert str(caught.value) == (
        "Resource config validation failed:\n"
        "  - In step 'only', parameter 'client' "
        f"(test_config_checks_follow_factory_dependencies.<locals>.make_client -> {missing}): "
        f"No such file: {missing}"
    )
    validate_step_resources(Nested(disable_validation=True), configs=False, resources=False)
    assert calls == {}  # config checks never call factories


def test_building_resources_at_validation_fills_the_manager() -> None:
    manager = ResourceManager()
    workflow = SharedClients(resource_manager=manager)
    validate_step_resources(workflow, configs=True, resources=True)
    assert calls == {"sync": 1, "async": 1}
    assert set(manager.get_all()) == {"make_sync_client", "make_async_client"}


async def test_resource_validation_also_works_inside_a_running_loop() -> None:
    def broken() -> Client:
        raise RuntimeError("no API key")

    class Broken(Workflow):
        @step
        async def only(
            self, ev: StartEvent, ctx: Context, client: Annotated[Client, Resource(broken)]
        ) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowValidationError) as caught:
        validate_step_resources(Broken(), configs=True, resources=True)
    assert str(caught.value) == (
        "Resource validation failed:\n  - In step 'only', parameter 'client': no API key"
    )


# --- the reference's documentation examples, unchanged --------------------------------

RESOURCE_CONFIG_DOCSTRING_EXAMPLE = """
from typing import Annotated
from pydantic import BaseModel
from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent
from workflows.resource import ResourceConfig


class ClassifierConfig(BaseModel):
    categories: list[str]
    threshold: float


class MyWorkflow(Workflow):
    @step
    async def classify(
        self,
        ev: StartEvent,
        config: Annotated[
            ClassifierConfig,
            ResourceConfig(
                config_file="classifier.json",
                label="Classifier",
                description="Classification categories and threshold",
            ),
        ],
    ) -> StopEvent:
        return StopEvent(result=config.categories)
"""

MEMORY_DOCS_EXAMPLE = """
from typing import Annotated

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent
from workflows.resource import Resource
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory


def get_memory(*args, **kwargs):
    return Memory.from_defaults("user_id_123", token_limit=60000)


class SecondEvent(Event):
    msg: str


class WorkflowWithResource(Workflow):
    @step
    async def first_step(
        self,
        ev: StartEvent,
        memory: Annotated[Memory, Resource(get_memory)],
    ) -> SecondEvent:
        print("Memory before step 1", memory)
        await memory.aput(
            ChatMessage(role="user", content="This is the first step")
        )
        print("Memory after step 1", memory)
        return SecondEvent(msg="This is an input for step 2")

    @step
    async def second_step(
        self, ev: SecondEvent, memory: Annotated[Memory, Resource(get_memory)]
    ) -> StopEvent:
        print("Memory before step 2", memory)
        await memory.aput(ChatMessage(role="user", content=ev.msg))
        print("Memory after step 2", memory)
        return StopEvent(result="Messages put into memory")
"""


def _run_module_source(source: str, name: str) -> dict[str, Any]:
    """Execute ``source`` as the body of a fresh module and return its namespace."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"<{name}>", "exec", dont_inherit=True), namespace)
    return namespace


async def test_docstring_example_of_resource_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_json(tmp_path / "classifier.json", {"categories": ["spam", "ham"], "threshold": 0.8})
    monkeypatch.chdir(tmp_path)
    example = _run_module_source(RESOURCE_CONFIG_DOCSTRING_EXAMPLE, "resource_config_example")
    assert await example["MyWorkflow"]().run() == ["spam", "ham"]


class _ChatMessage:
    """Stand-in for llama_index's ChatMessage (not a dependency of this project)."""

    def __init__(self, role: str, content: str) -> None:
        self.role, self.content = role, content


class _Memory:
    """Stand-in for llama_index's Memory: just what the documentation example uses."""

    def __init__(self, session_id: str, token_limit: int) -> None:
        self.session_id, self.token_limit = session_id, token_limit
        self.messages: list[_ChatMessage] = []

    def __repr__(self) -> str:
        return f"Memory({len(self.messages)} messages)"

    @classmethod
    def from_defaults(cls, session_id: str, token_limit: int) -> _Memory:
        return cls(session_id, token_limit)

    async def aput(self, message: _ChatMessage) -> None:
        self.messages.append(message)


async def test_documentation_example_of_a_memory_resource(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # llama_index is not installed here: its two imported names come from stand-ins.
    for module, attribute, value in [
        ("llama_index.core.llms", "ChatMessage", _ChatMessage),
        ("llama_index.core.memory", "Memory", _Memory),
    ]:
        fake = types.ModuleType(module)
        setattr(fake, attribute, value)
        monkeypatch.setitem(sys.modules, module, fake)
    for package in ("llama_index", "llama_index.core"):
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))

    example = _run_module_source(MEMORY_DOCS_EXAMPLE, "memory_example")
    manager = ResourceManager()
    workflow = example["WorkflowWithResource"](resource_manager=manager)
    assert await workflow.run() == "Messages put into memory"
    assert capsys.readouterr().out.splitlines() == [
        "Memory before step 1 Memory(0 messages)",
        "Memory after step 1 Memory(1 messages)",
        "Memory before step 2 Memory(1 messages)",
        "Memory after step 2 Memory(2 messages)",
    ]
    assert list(manager.get_all()) == ["get_memory"]
