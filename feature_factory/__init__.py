"""Feature Factory: warehouse-native features, drift monitoring and reversible remediation in Dagster."""

__version__ = "0.1.0"
