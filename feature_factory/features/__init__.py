"""features domain: catalog-driven customer feature snapshots computed in the warehouse.

    snapshot_sql.snapshot_plan(...)         the SELECT for snapshot days [first, last]
    snapshots.write_snapshots(...)          compute and replace those days in customer_features
    online.build_online_table(wh, catalog)  rebuild customer_features_online (through the patch layer)
    online.get_online_features(wh, ids)     served rows for customer ids, unknown ids as found=False
    expectations.evaluate(...)              catalog expectations measured in one SQL aggregate
"""
