"""The config root: the user's directory that every relative path is taken from.

The tool is installed apart from the configuration it acts on, as Terraform
and pre-commit are. The config root is the working directory, or the
directory given with ``--chdir DIR`` (Terraform's ``-chdir``), applied before
anything else. From it:

- an environment *name* (``--env prod``) is looked up as
  ``environments/prod.yaml``, then ``infra/environments/prod.yaml`` (this
  repository's reference layout); a *path* (``--env envs/prod.yaml``) is
  taken as given, relative to the root;
- relative paths inside an environment file (``sync.manifests``,
  ``target.state_dir``) are relative to the root, not to the file, so one
  file reads the same wherever it sits; ``sync.manifests`` must stay inside
  the root (manifests are reviewed code);
- manifests default to ``secrets/``;
- a manifest's ``file:`` value source is relative to that manifest's
  directory and may not leave it.

Nothing resolves against the installed code's location.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from keyvault_platform.core.errors import ActionableError

#: Where environment files are looked up by name, in order.
ENVIRONMENT_DIRS = ("environments", "infra/environments")
#: Where manifests are read from when neither the command line nor the
#: environment file names them.
DEFAULT_MANIFEST_DIR = "secrets"
#: The emulator's state directory when an emulator environment names none.
DEFAULT_EMULATOR_STATE_DIR = ".state/emulator"
ENVIRONMENT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ConfigRoot:
    """An absolute directory holding a team's environment files and manifests."""

    path: Path

    @classmethod
    def at(cls, directory: Path | str | None = None) -> ConfigRoot:
        """The root at ``directory`` (default: the working directory); it must exist."""
        path = Path.cwd() if directory is None else Path(directory).expanduser()
        if not path.is_dir():
            raise ActionableError(
                f"the config directory {directory} does not exist or is not a directory",
                hint="pass --chdir the directory that holds environments/ and secrets/ "
                "(create one with `keyvault-platform init DIR`)",
            )
        return cls(path.resolve())

    def resolve(self, path: Path | str) -> Path:
        """``path`` relative to the root; an absolute path stays as it is."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.path / candidate

    def contains(self, path: Path) -> bool:
        """Whether ``path`` (resolved, links followed) lies inside the root."""
        return self.resolve(path).resolve().is_relative_to(self.path.resolve())

    def show(self, path: Path) -> str:
        """``path`` as people read it in messages: relative to the root when inside it."""
        absolute = self.resolve(path)
        try:
            return absolute.relative_to(self.path).as_posix()
        except ValueError:
            return str(absolute)

    def environment_file(self, name_or_path: str | Path) -> Path:
        """The file of an environment given by name (``prod``) or by path.

        A name is looked up in :data:`ENVIRONMENT_DIRS`; when none holds it,
        the error lists where it looked and the names that exist.
        """
        text = str(name_or_path)
        if isinstance(name_or_path, Path) or _looks_like_path(text):
            return self.resolve(text)
        for directory in ENVIRONMENT_DIRS:
            for suffix in ENVIRONMENT_SUFFIXES:
                candidate = self.path / directory / f"{text}{suffix}"
                if candidate.is_file():
                    return candidate
        looked = " and ".join(f"{d}/{text}.yaml" for d in ENVIRONMENT_DIRS)
        known = sorted({p.stem for p in self.environment_files()})
        hint = (
            f"environments here: {', '.join(known)}"
            if known
            else "create one (`keyvault-platform init` writes a working start), or run in "
            "your config repository (or pass --chdir DIR)"
        )
        raise ActionableError(
            f"environment {text!r} not found: looked for {looked} in {self.path}", hint=hint
        )

    def environment_files(self) -> list[Path]:
        """Every environment file in :data:`ENVIRONMENT_DIRS`, sorted, first directory first."""
        return list(self._environment_files())

    def _environment_files(self) -> Iterator[Path]:
        for directory in ENVIRONMENT_DIRS:
            folder = self.path / directory
            if folder.is_dir():
                yield from sorted(
                    p for p in folder.iterdir() if p.suffix in ENVIRONMENT_SUFFIXES and p.is_file()
                )


def _looks_like_path(text: str) -> bool:
    return text.endswith(ENVIRONMENT_SUFFIXES) or "/" in text or "\\" in text


__all__ = [
    "DEFAULT_EMULATOR_STATE_DIR",
    "DEFAULT_MANIFEST_DIR",
    "ENVIRONMENT_DIRS",
    "ConfigRoot",
]
