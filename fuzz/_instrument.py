"""Coverage instrumentation of barenet's Python code for the atheris targets, done on the
imported modules' functions, so it works the same for an installed and an editable barenet
(atheris.instrument_imports misses modules that an editable install's finder loads)."""

import sys
import types

import atheris


def _functions(obj, seen):
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        for f in (obj.fget, obj.fset, obj.fdel):
            yield from _functions(f, seen)
        return
    while isinstance(obj, types.FunctionType) and id(obj) not in seen:
        seen.add(id(obj))
        yield obj
        obj = getattr(obj, "__wrapped__", None)  # functools.wraps decorators


def instrument(package="barenet"):
    """instrument every function and method defined in package's imported modules"""
    seen, count = set(), 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for obj in list(vars(module).values()):
            members = [obj]
            if isinstance(obj, type) and obj.__module__ == name:
                members = list(vars(obj).values())
            elif getattr(obj, "__module__", None) != name:
                continue
            for member in members:
                for func in _functions(member, seen):
                    atheris.instrument_func(func)
                    count += 1
    return count
