"""A package's exports imported on first use (hvroll.lazy)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hvroll.lazy import exports


def python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (nothing of this process imported)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


WHERE = {"dumps": ("json", "dumps"), "JSONError": ("json.decoder", "JSONDecodeError")}


def test_an_export_is_imported_from_its_module_and_kept() -> None:
    namespace: dict[str, object] = {}
    getattr_ = exports("json", WHERE, namespace)
    import json
    import json.decoder

    assert getattr_("dumps") is json.dumps
    assert getattr_("JSONError") is json.decoder.JSONDecodeError
    assert namespace == {"dumps": json.dumps, "JSONError": json.decoder.JSONDecodeError}


def test_another_name_is_a_submodule_or_an_attribute_error() -> None:
    getattr_ = exports("json", WHERE, {})
    import json.tool

    assert getattr_("tool") is json.tool
    with pytest.raises(AttributeError, match=r"^module 'json' has no attribute 'nothing'$"):
        getattr_("nothing")


def test_a_submodule_that_fails_its_own_import_is_not_hidden() -> None:
    """A missing module *inside* the submodule is its error, not a missing attribute."""
    code = ("import sys, types\n"
            "from hvroll.lazy import exports\n"
            "sys.modules['pkg'] = pkg = types.ModuleType('pkg'); pkg.__path__ = []\n"
            "class Finder:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'pkg.sub':\n"
            "            raise ModuleNotFoundError('no dep', name='dep')\n"
            "sys.meta_path.insert(0, Finder())\n"
            "try:\n"
            "    exports('pkg', {}, {})('sub')\n"
            "except ModuleNotFoundError as exc:\n"
            "    print('raised', exc.name)\n")
    assert python(code) == "raised dep\n"


def test_the_store_testbed_and_lab_packages_export_their_names() -> None:
    """Every name of their ``__all__`` resolves, and importing the package loads none."""
    code = ("import sys, hvroll.store, hvroll.testbed, hvroll.lab.nova as lab\n"
            "heavy = [m for m in ('sqlalchemy', 'hvroll.store.store', 'hvroll.testbed.hosts',"
            " 'hvroll.lab.nova.api') if m in sys.modules]\n"
            "for pkg in (hvroll.store, hvroll.testbed, lab):\n"
            "    for name in pkg.__all__:\n"
            "        getattr(pkg, name)\n"
            "print(heavy, hvroll.store.Store.__module__, lab.start_services.__name__)\n")
    assert python(code) == "[] hvroll.store.store start\n"
