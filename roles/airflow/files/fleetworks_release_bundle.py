# Installed by the fleetworks.airflow collection (roles/airflow) into $AIRFLOW_HOME/config,
# which every Airflow process puts on sys.path. Changes here are overwritten by the next run.
"""The fleet's DAG releases as one versioned DAG bundle.

The airflow_dags role ships each release to <root>/releases/<name> on every DAG host and then
switches <root>/current to it on all of them. This bundle makes the release's name the bundle
version that Airflow records on each DAG version and each DAG run, so that:

- the DAG processor parses one release at a time, the one `current` named when it last
  refreshed, and labels what it stores with that release's name (never a new release's files
  under an old name: it reads the release's own directory, not the `current` link);
- a task runs on the code of its run's release (<root>/releases/<version>), on any worker, with
  that release's own packages (<release>/.python) in place of the current release's, even after
  a rollout switched `current` during the run.

A release that a task needs and that is not on the host fails that task with a message naming
it, instead of running another release's code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.dag_processing.bundles.base import BaseDagBundle

try:  # Airflow 3.3 records structured versions; 3.2 takes the plain string.
    from airflow.dag_processing.bundles.base import BundleVersion
except ImportError:  # pragma: no cover - depends on the installed release
    BundleVersion = None


class ReleaseDagBundle(BaseDagBundle):
    """DAG releases under one root: `releases/<name>` each, `current` the one being served."""

    supports_versioning = True

    def __init__(self, *, root: str, packages_dir: str = ".python", **kwargs) -> None:
        super().__init__(**kwargs)
        self._root = Path(root)
        self._packages_dir = packages_dir
        # The release an unversioned instance (the DAG processor's) serves until its next refresh.
        self._served: str | None = None

    def _current(self) -> str:
        """The name of the release `current` points at now."""
        return Path(os.readlink(self._root / "current")).name

    def _release(self) -> str:
        if self.version:
            return self.version
        if self._served is None:
            self._served = self._current()
        return self._served

    def initialize(self) -> None:
        if self.version:
            release = self._root / "releases" / self.version
            if not release.is_dir():
                raise RuntimeError(
                    f"DAG release {self.version}, which this task's run started with, is not on this host "
                    f"({release} is missing): it was removed, or the host joined after the release was "
                    f"replaced. Roll the release out again (dags.yml) or clear the task to run it on the "
                    f"current release.")
            self._use_release_packages(release)
        else:
            self._served = self._current()
        super().initialize()

    def _use_release_packages(self, release: Path) -> None:
        """Put this release's packages where the current release's are on sys.path (after
        site-packages: a release adds packages, it never replaces Airflow's)."""
        current = str(self._root / "current" / self._packages_dir)
        own = str(release / self._packages_dir)
        if own in sys.path:
            return
        if current in sys.path:
            sys.path[sys.path.index(current)] = own
        else:
            sys.path.append(own)

    def refresh(self) -> None:
        """Serve the release `current` points at now (the controller switches it)."""
        if not self.version:
            self._served = self._current()

    def get_current_version(self):
        name = self._release()
        return BundleVersion(version=name) if BundleVersion is not None else name

    @property
    def path(self) -> Path:
        return self._root / "releases" / self._release()
