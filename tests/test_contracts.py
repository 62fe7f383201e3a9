"""Every task has a role class, every variant plays its task's role, and a task calls only what its role declares."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

import gan_core.config
from gan_core.tasks import Task, all_tasks
from gan_core.variants import ROLES, Variant, get_variant_class, variant_names
from gan_core.variants.base import register

TASKS = {task.name: task for task in all_tasks()}


def test_every_task_has_its_own_role():
    assert sorted(TASKS) == sorted(role.task for role in ROLES)
    for name, task in TASKS.items():
        assert task.role in ROLES and task.role.task == name


@pytest.mark.parametrize("name", variant_names())
def test_every_variant_plays_its_tasks_role_completely(name: str):
    cls = get_variant_class(name)
    role = TASKS[cls.task].role
    assert issubclass(cls, role), f"{name} does not subclass {role.__name__}, the role of its task {cls.task}"
    assert not inspect.isabstract(cls), f"{name} leaves abstract: {sorted(cls.__abstractmethods__)}"


def test_a_variant_without_a_role_is_refused():
    class Roleless(Variant):
        name = "roleless"

    with pytest.raises(TypeError, match="subclasses no role"):
        register(Roleless)


def variant_accesses(task: type[Task]) -> dict[str, tuple[type[Variant], set[str]]]:
    """For each function of the task's module with a parameter annotated as a variant type: that type and the
    attributes the function reads on the parameter (`trained.sample`, `variant.spec`, ...)."""
    module = inspect.getmodule(task)
    found = {}
    for function in ast.walk(ast.parse(Path(module.__file__).read_text())):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for arg in function.args.args:
            if arg.annotation is None:
                continue
            annotated = eval(ast.unparse(arg.annotation), vars(module))  # the module's own names resolve it
            if not (isinstance(annotated, type) and issubclass(annotated, Variant)):
                continue
            read = {node.attr for node in ast.walk(function) if isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name) and node.value.id == arg.arg}
            found[f"{function.name}({arg.arg})"] = (annotated, read)
    return found


def declared(cls: type, attribute: str) -> bool:
    """Whether `cls` (or a base) defines `attribute` or declares it as an annotated instance attribute."""
    return hasattr(cls, attribute) or any(attribute in typing.get_type_hints(base) for base in cls.__mro__
                                          if base is not object)


def own_methods(role: type[Variant]) -> set[str]:
    """The public methods the role adds to Variant's: what the task may call beyond the common contract."""
    return {name for name, member in inspect.getmembers(role, callable)
            if not name.startswith("_") and not hasattr(Variant, name) and not isinstance(member, type)}


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_a_task_calls_only_what_its_role_declares(task_name: str):
    task = TASKS[task_name]
    accesses = variant_accesses(task)
    assert accesses, f"{task_name}: no function takes a variant, so nothing was checked"
    used = set()
    for where, (annotated, read) in accesses.items():
        assert issubclass(task.role, annotated), f"{task_name}.{where}: typed {annotated.__name__}, not its role"
        undeclared = sorted(a for a in read if not declared(annotated, a))
        assert not undeclared, f"{task_name}.{where} uses {undeclared}, which {annotated.__name__} does not declare"
        used |= read
    # and exactly: every method the role adds is one the task calls
    assert own_methods(task.role) <= used, f"{task.role.__name__} declares {own_methods(task.role) - used} unused"


def test_the_generic_config_imports_nothing_of_gan_core():
    """No import cycle: variants and tasks build on gan_core/config.py, which knows none of them."""
    tree = ast.parse(Path(gan_core.config.__file__).read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if m and m.startswith("gan_core")]
