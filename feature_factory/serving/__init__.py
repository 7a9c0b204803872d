"""serving domain: the online store (SQLite embedded, Redis for production) written from
`customer_features_online`, and the HTTP feature server (`feature-factory serve`)."""
