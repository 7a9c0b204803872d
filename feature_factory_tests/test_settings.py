"""One source per default: each Dagster Config inherits a plain pydantic settings model, so the
Launchpad shows the model's fields (same names, defaults, descriptions, flat shape) and the
calculations take the config as it is."""

import dagster as dg
import pytest
from dagster._config.pythonic_config.config import infer_schema_from_config_class
from pydantic import BaseModel, ValidationError

from feature_factory.health.assets import HealthConfig
from feature_factory.health.settings import HealthSettings
from feature_factory.ml.configs import LabelConfig, ModelConfig
from feature_factory.ml.labels import LabelSettings
from feature_factory.ml.models import Hyperparams
from feature_factory.monitoring.config import DriftConfig
from feature_factory.monitoring.detection.drift import Thresholds
from feature_factory.remediation.assets import ProposeConfig
from feature_factory.remediation.rules import RuleSettings

PAIRS = [(Thresholds, DriftConfig), (Hyperparams, ModelConfig), (LabelSettings, LabelConfig),
         (RuleSettings, ProposeConfig), (HealthSettings, HealthConfig)]


@pytest.mark.parametrize("settings, config", PAIRS, ids=lambda c: c.__name__)
def test_config_shows_the_settings_fields_with_their_defaults(settings, config):
    assert not issubclass(settings, dg.Config) and issubclass(settings, BaseModel)
    fields = infer_schema_from_config_class(config).config_type.fields
    for name, f in settings.model_fields.items():
        assert name in fields, name  # flat: the launchpad shape of before
        assert fields[name].description == f.description and f.description, name
        default = f.get_default(call_default_factory=True)
        assert getattr(config(), name) == default, name
        if fields[name].default_provided:
            assert fields[name].default_value == default, name
    assert isinstance(config(), settings) and config() == config()


def test_drift_thresholds_validate_and_reach_the_calculations():
    t = DriftConfig(psi=[0.2, 0.3, 0.6, 1.2], alpha=0.01).thresholds()
    assert type(t) is Thresholds and t.tier("psi").rank(0.35) == 2 and t.alpha == 0.01
    assert t.mean_shift_std == Thresholds().mean_shift_std == [0.15, 0.25, 0.5, 1.0]
    with pytest.raises(ValidationError, match="ascending"):
        Thresholds(ks=[0.3, 0.2, 0.3, 0.4])
    with pytest.raises(ValidationError, match="unknown severity 'loud'"):
        Thresholds(stale_severity="loud")
    assert Hyperparams.from_config(ModelConfig(cv_folds=2)) == Hyperparams(cv_folds=2)
    assert ProposeConfig(min_severity="high").rule_settings() == RuleSettings(min_severity="high")


@pytest.mark.parametrize("module", [
    "feature_factory.settings", "feature_factory.tables", "feature_factory.warehouse.dialect",
    "feature_factory.warehouse.sql", "feature_factory.monitoring.detection.drift", "feature_factory.ml.models",
    "feature_factory.ml.labels", "feature_factory.remediation.rules", "feature_factory.health.settings",
    "feature_factory.health.evaluate",
])
def test_settings_models_import_without_dagster(module):
    # The settings models (Homes, Thresholds, Hyperparams, LabelSettings, RuleSettings) and what
    # they build SQL with: usable from a script or a notebook with neither Dagster nor a driver.
    import subprocess
    import sys

    probe = (f"import sys, {module}; "
             "print(sorted(m for m in ('dagster', 'duckdb', 'snowflake.connector') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]", module
