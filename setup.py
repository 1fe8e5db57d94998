"""The one build step pyproject.toml cannot declare: compile the gettext catalogs.

A wheel (and `pip install .`) carries webinars/locale/*/LC_MESSAGES/messages.mo compiled from
the .po files next to them, so an installed product loads them without compiling. An editable
install reads the checkout, where `webinars.catalogs` compiles a missing or stale .mo in memory.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's .po files are read in place
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(Path("webinars/locale").glob("*/LC_MESSAGES/messages.po")):
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            with target.open("wb") as compiled:
                write_mo(compiled, catalog)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(Path(self.build_lib) / po.with_suffix(".mo"))
                        for po in Path("webinars/locale").glob("*/LC_MESSAGES/messages.po")]
        return outputs


setup(cmdclass={"build_py": build_py_with_catalogs})
