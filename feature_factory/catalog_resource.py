"""The `catalog` resource: the feature catalog and the sources spec a run reads, handed to every step.

A run reads both files once (the first step that asks; later asks in the run get the same objects),
so every step of a run (features, monitoring, remediation, serving, training) works from the same
catalog: patches are checked against the catalog the features were built from. The paths default
to `FEATURE_FACTORY_CATALOG` / `FEATURE_FACTORY_SOURCES` (else the shipped files), read when a run
uses them, never at import; the Launchpad can point a run at other files. Tests hand in a resource
whose `catalog()` is the catalog they built (`CatalogResource.of`).

Asset *definitions* still come from the catalog the code location was loaded with (a factory call
in each domain's definitions); a run whose resource names another file builds what it reads.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from feature_factory.catalog.loader import Catalog, catalog_path, load_catalog
from feature_factory.catalog.sources import SourceCatalog, load_sources, sources_path


class CatalogResource(dg.ConfigurableResource):
    """The feature catalog and the sources spec of a run (resource key `catalog`)."""

    catalog_path: str | None = Field(
        default=None,
        description="Feature catalog YAML; default FEATURE_FACTORY_CATALOG, else the shipped "
        "feature_factory/catalog/features.yaml (read when a run first uses it).",
    )
    sources_path: str | None = Field(
        default=None,
        description="Sources YAML (sources and entities); default FEATURE_FACTORY_SOURCES, else the shipped "
        "feature_factory/catalog/sources.yaml (read when a run first uses it).",
    )
    _catalog: Catalog | None = PrivateAttr(default=None)
    _sources: SourceCatalog | None = PrivateAttr(default=None)

    def sources(self) -> SourceCatalog:
        """The sources spec, loaded once per resource instance (a run)."""
        if self._sources is None:
            self._sources = load_sources(self.sources_path or sources_path())
        return self._sources

    def catalog(self) -> Catalog:
        """The feature catalog, loaded once per resource instance (a run); features over a
        source or entity are checked against `sources()`."""
        if self._catalog is None:
            self._catalog = load_catalog(self.catalog_path or catalog_path(), sources=self.sources())
        return self._catalog

    def describe(self) -> str:
        return f"catalog {self.catalog_path or catalog_path()}, sources {self.sources_path or sources_path()}"

    @classmethod
    def of(cls, catalog: Catalog, sources: SourceCatalog | None = None) -> CatalogResource:
        """A resource that hands out `catalog` (and `sources`, default the sources file in force).
        A subclass, not a field: Dagster re-creates a resource from its config for each run."""

        class Given(cls):
            def catalog(self) -> Catalog:
                return catalog

            def sources(self) -> SourceCatalog:
                return sources if sources is not None else super().sources()

            def describe(self) -> str:
                return "a catalog handed in"

        return Given()
