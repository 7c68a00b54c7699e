"""SQLite migrations, applied in order by `SqliteStore.migrate()`.

Each entry is (name, statements). The PostgreSQL set will carry the same names
in the same order; a test will hold the two lists equal.
"""

from __future__ import annotations

M001_INITIAL = [
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT,
        created_utc TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        dedupe_key TEXT NOT NULL,
        ts_utc TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        model_ref TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        latency_ms INTEGER,
        user_name TEXT,
        session_id TEXT,
        agent TEXT,
        key_id TEXT,
        tags_json TEXT,
        price_context_json TEXT,
        metadata_json TEXT,
        reported_cost_nanos INTEGER,
        cost_nanos INTEGER,
        cost_source TEXT NOT NULL,
        pricing_rev INTEGER,
        source_format TEXT,
        ingested_utc TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX events_dedupe ON events(project_id, dedupe_key)",
    "CREATE INDEX events_ts ON events(ts_utc)",
    "CREATE INDEX events_unpriced ON events(provider, model) WHERE cost_source = 'unpriced'",
    # Hourly, not daily: reports bucket days in the reader's time zone, and an
    # hour grain serves every zone whose offset is a whole number of hours.
    """
    CREATE TABLE usage_hourly (
        project_id INTEGER NOT NULL,
        hour_utc TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        key_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        agent TEXT NOT NULL,
        events INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_nanos INTEGER NOT NULL,
        unpriced_events INTEGER NOT NULL,
        PRIMARY KEY (hour_utc, project_id, provider, model, key_id, user_name, agent)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE ingest_cursors (
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        state_json TEXT,
        updated_utc TEXT NOT NULL,
        PRIMARY KEY (source, path)
    )
    """,
    """
    CREATE TABLE pricing_snapshots (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        source_url TEXT NOT NULL,
        fetched_utc TEXT NOT NULL,
        path TEXT NOT NULL,
        provider_count INTEGER NOT NULL,
        model_count INTEGER NOT NULL,
        etag TEXT,
        last_modified TEXT,
        active INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE pricing_revisions (
        id INTEGER PRIMARY KEY,
        created_utc TEXT NOT NULL,
        snapshot_id INTEGER REFERENCES pricing_snapshots(id),
        reason TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE price_overrides (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        rates_json TEXT NOT NULL,
        effective_from_utc TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_utc TEXT NOT NULL,
        removed_utc TEXT
    )
    """,
    """
    CREATE TABLE price_history (
        id INTEGER PRIMARY KEY,
        recorded_utc TEXT NOT NULL,
        revision_id INTEGER REFERENCES pricing_revisions(id),
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        field TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT,
        pct_change TEXT,
        source TEXT NOT NULL
    )
    """,
    "CREATE INDEX price_history_model ON price_history(provider, model)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

MIGRATIONS: list[tuple[str, list[str]]] = [
    ("m001_initial", M001_INITIAL),
]

# Reports read rollups, never raw events, for the common questions:
# - usage_daily: days cut in the store's report zone (meta 'rollup.zone') with every
#   report dimension but session: small, because a team's keys, users and agents
#   repeat day after day;
# - usage_hourly: UTC hours by project, provider and model only, for reports in
#   other zones (any whole-hour offset). m001's hourly table carried every dimension
#   and grew almost as large as the events themselves, so m002 replaces it.
# The store fills both from events right after this migration (SqliteStore.migrate).
M002_DAILY_ROLLUP = [
    """
    CREATE TABLE usage_daily (
        day TEXT NOT NULL,
        project_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        key_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        agent TEXT NOT NULL,
        events INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_nanos INTEGER NOT NULL,
        unpriced_events INTEGER NOT NULL,
        PRIMARY KEY (day, project_id, provider, model, key_id, user_name, agent)
    ) WITHOUT ROWID
    """,
    "DROP TABLE usage_hourly",
    """
    CREATE TABLE usage_hourly (
        hour_utc TEXT NOT NULL,
        project_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        events INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_nanos INTEGER NOT NULL,
        unpriced_events INTEGER NOT NULL,
        PRIMARY KEY (hour_utc, project_id, provider, model)
    ) WITHOUT ROWID
    """,
]

MIGRATIONS.append(("m002_daily_rollup", M002_DAILY_ROLLUP))

# Leaner events. Every event carried its run's ingestion time as 27 bytes of text,
# and the catalog model it priced as even when that was its own model name: about a
# sixth of each row, and write volume is what bounds bulk ingest. The time moves to
# one ingest_runs row per run (which also records which run added an event), and
# model_ref is NULL when it equals model. SQLite cannot drop NOT NULL in place, so
# the table is rebuilt (the standard create-copy-drop-rename sequence).
M003_LEAN_EVENTS = [
    "CREATE TABLE ingest_runs (id INTEGER PRIMARY KEY, started_utc TEXT NOT NULL UNIQUE)",
    "INSERT INTO ingest_runs (started_utc) SELECT DISTINCT ingested_utc FROM events ORDER BY 1",
    """
    CREATE TABLE events_lean (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        dedupe_key TEXT NOT NULL,
        ts_utc TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        model_ref TEXT,
        input_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        latency_ms INTEGER,
        user_name TEXT,
        session_id TEXT,
        agent TEXT,
        key_id TEXT,
        tags_json TEXT,
        price_context_json TEXT,
        metadata_json TEXT,
        reported_cost_nanos INTEGER,
        cost_nanos INTEGER,
        cost_source TEXT NOT NULL,
        pricing_rev INTEGER,
        source_format TEXT,
        ingest_run INTEGER REFERENCES ingest_runs(id)
    )
    """,
    """
    INSERT INTO events_lean SELECT e.id, e.project_id, e.dedupe_key, e.ts_utc, e.provider, e.model,
        NULLIF(e.model_ref, e.model), e.input_tokens, e.cache_read_tokens, e.cache_write_tokens,
        e.cache_write_1h_tokens, e.output_tokens, e.reasoning_tokens, e.requests, e.latency_ms, e.user_name,
        e.session_id, e.agent, e.key_id, e.tags_json, e.price_context_json, e.metadata_json,
        e.reported_cost_nanos, e.cost_nanos, e.cost_source, e.pricing_rev, e.source_format, r.id
    FROM events e JOIN ingest_runs r ON r.started_utc = e.ingested_utc ORDER BY e.id
    """,
    "DROP TABLE events",
    "ALTER TABLE events_lean RENAME TO events",
    "CREATE UNIQUE INDEX events_dedupe ON events(project_id, dedupe_key)",
    "CREATE INDEX events_ts ON events(ts_utc)",
    "CREATE INDEX events_unpriced ON events(provider, model) WHERE cost_source = 'unpriced'",
]

MIGRATIONS.append(("m003_lean_events", M003_LEAN_EVENTS))

# Accounts and access control. Everything secret is stored as a hash (passwords:
# argon2id; API keys, refresh, reset and verification tokens, recovery codes: SHA-256)
# or sealed with the server key (TOTP secrets, outbox payloads that carry links).
# Project ownership is a membership role, so a project can have several owners.
M004_ACCOUNTS = [
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        display_name TEXT,
        password_hash TEXT,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        is_admin INTEGER NOT NULL DEFAULT 0,
        email_verified_utc TEXT,
        mfa_secret_sealed TEXT,
        mfa_pending_sealed TEXT,
        mfa_last_step INTEGER,
        mfa_enabled_utc TEXT,
        created_utc TEXT NOT NULL,
        last_login_utc TEXT,
        password_changed_utc TEXT
    )
    """,
    "ALTER TABLE projects ADD COLUMN retention_days INTEGER",
    "ALTER TABLE projects ADD COLUMN created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL",
    """
    CREATE TABLE memberships (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        created_utc TEXT NOT NULL,
        PRIMARY KEY (project_id, user_id)
    )
    """,
    "CREATE INDEX memberships_user ON memberships(user_id)",
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        last_four TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_utc TEXT NOT NULL,
        expires_utc TEXT,
        revoked_utc TEXT,
        last_used_utc TEXT,
        replaced_by INTEGER REFERENCES api_keys(id)
    )
    """,
    "CREATE INDEX api_keys_project ON api_keys(project_id)",
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_utc TEXT NOT NULL,
        last_used_utc TEXT NOT NULL,
        expires_utc TEXT NOT NULL,
        revoked_utc TEXT,
        revoked_reason TEXT,
        mfa INTEGER NOT NULL DEFAULT 0,
        source_addr TEXT,
        user_agent TEXT
    )
    """,
    "CREATE INDEX sessions_user ON sessions(user_id)",
    # One row per refresh token ever issued. A used token is kept (used_utc set) so
    # that presenting it again is recognised as reuse and revokes its session.
    """
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        issued_utc TEXT NOT NULL,
        used_utc TEXT
    )
    """,
    "CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id)",
    """
    CREATE TABLE user_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        purpose TEXT NOT NULL,
        created_utc TEXT NOT NULL,
        expires_utc TEXT NOT NULL,
        used_utc TEXT
    )
    """,
    """
    CREATE TABLE recovery_codes (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        created_utc TEXT NOT NULL,
        used_utc TEXT,
        PRIMARY KEY (user_id, code_hash)
    )
    """,
    # Failed logins per account and per source address (subjects are SHA-256 hashes,
    # so the table holds no email addresses), read back over a sliding hour.
    """
    CREATE TABLE login_failures (
        scope TEXT NOT NULL,
        subject TEXT NOT NULL,
        ts_utc TEXT NOT NULL
    )
    """,
    "CREATE INDEX login_failures_subject ON login_failures(scope, subject, ts_utc)",
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        ts_utc TEXT NOT NULL,
        actor TEXT NOT NULL,
        actor_user_id INTEGER,
        action TEXT NOT NULL,
        target TEXT,
        project_id INTEGER,
        project_slug TEXT,
        source_addr TEXT,
        outcome TEXT NOT NULL,
        detail_json TEXT
    )
    """,
    "CREATE INDEX audit_log_ts ON audit_log(ts_utc)",
    "CREATE INDEX audit_log_project ON audit_log(project_id, ts_utc)",
    # Append-only: the store itself refuses to change or remove a record.
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    # Messages waiting for delivery (the dispatcher comes with notifications). The
    # template's variables are sealed: a reset link is a credential.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        created_utc TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        template TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload_sealed TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_utc TEXT,
        sent_utc TEXT,
        last_error TEXT
    )
    """,
    "CREATE INDEX outbox_status ON outbox(status, next_attempt_utc)",
]

MIGRATIONS.append(("m004_accounts", M004_ACCOUNTS))

# Per-project IP allow-lists for API keys: comma-separated networks (CIDR or single
# addresses); NULL allows every address.
M005_PROJECT_NETWORKS = ["ALTER TABLE projects ADD COLUMN allowed_networks TEXT"]

MIGRATIONS.append(("m005_project_networks", M005_PROJECT_NETWORKS))

# Single sign-on identities linked to accounts: (issuer, subject) is the provider's stable id of
# a person (an OpenID Connect `iss` and `sub`; GitHub's web address and numeric user id). A later
# sign-in resolves by it before any email, so an address changed at the provider keeps the
# account, and an address re-issued to someone else there does not open it. One identity per
# account per issuer: a second subject claiming a linked account's address is refused.
M006_IDENTITIES = [
    """
    CREATE TABLE user_identities (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        email_at_link TEXT,
        created_utc TEXT NOT NULL,
        last_login_utc TEXT,
        UNIQUE (issuer, subject),
        UNIQUE (issuer, user_id)
    )
    """,
    "CREATE INDEX user_identities_user ON user_identities(user_id)",
]

MIGRATIONS.append(("m006_identities", M006_IDENTITIES))

# Budgets, alert rules, channels, alerts and deliveries (issue 5).
# - `alerts.dedupe_key` is the persisted alert state: a threshold of a budget in one period,
#   a rule in one window, an anomaly on one day each have one key, so a second evaluation (on
#   this daemon or another) inserts nothing and notifies nobody twice.
# - Channel targets (webhook and chat URLs, phone numbers) and secrets are sealed with the
#   server key (WH-19): a Slack or Discord URL is itself a credential. `target_hint` is the
#   redacted form shown in lists and logs.
# - The outbox gains a lease (`lease_owner`, `lease_expires_utc`): a dispatcher claims a
#   message with one conditional UPDATE, so two dispatchers never send it concurrently, and a
#   dispatcher killed mid-send leaves a lease that expires and the message is tried again
#   with the same idempotency key. `message_uid` is the stable `webhook-id` (WH-04).
# - `delivery_attempts` records every attempt (WH-13).
# - `job_runs` holds the scheduler's leases and its last slot, so with several daemons on
#   one store each scheduled run happens once.
M007_ALERTS = [
    """
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        target_sealed TEXT NOT NULL,
        target_hint TEXT NOT NULL,
        secret_sealed TEXT,
        previous_secret_sealed TEXT,
        previous_secret_until_utc TEXT,
        options_json TEXT,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        created_by_user_id INTEGER,
        created_utc TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        disabled_reason TEXT,
        disabled_utc TEXT,
        failing_since_utc TEXT,
        last_failure_utc TEXT,
        last_success_utc TEXT
    )
    """,
    """
    CREATE TABLE budgets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        scope_kind TEXT NOT NULL,
        scope_value TEXT,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        amount_nanos INTEGER NOT NULL,
        period TEXT NOT NULL,
        zone TEXT NOT NULL,
        thresholds TEXT NOT NULL,
        forecast INTEGER NOT NULL DEFAULT 1,
        channels_json TEXT NOT NULL,
        created_by_user_id INTEGER,
        created_utc TEXT NOT NULL,
        updated_utc TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE alert_rules (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        expression TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        channels_json TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_by_user_id INTEGER,
        created_utc TEXT NOT NULL,
        updated_utc TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE alert_mutes (
        target TEXT PRIMARY KEY,
        until_utc TEXT NOT NULL,
        reason TEXT,
        created_by_user_id INTEGER,
        created_utc TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        source TEXT,
        project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
        created_utc TEXT NOT NULL,
        severity TEXT NOT NULL,
        summary TEXT NOT NULL,
        data_json TEXT NOT NULL,
        muted INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX alerts_created ON alerts(created_utc)",
    "ALTER TABLE outbox ADD COLUMN alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL",
    "ALTER TABLE outbox ADD COLUMN channel_id INTEGER REFERENCES channels(id) ON DELETE SET NULL",
    "ALTER TABLE outbox ADD COLUMN message_uid TEXT",
    "ALTER TABLE outbox ADD COLUMN lease_owner TEXT",
    "ALTER TABLE outbox ADD COLUMN lease_expires_utc TEXT",
    "ALTER TABLE outbox ADD COLUMN provider TEXT",
    "ALTER TABLE outbox ADD COLUMN provider_message_id TEXT",
    "ALTER TABLE outbox ADD COLUMN first_attempt_utc TEXT",
    "CREATE INDEX outbox_channel ON outbox(channel_id, id)",
    """
    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
        attempt_no INTEGER NOT NULL,
        started_utc TEXT NOT NULL,
        provider TEXT NOT NULL,
        outcome TEXT NOT NULL,
        status_code INTEGER,
        latency_ms INTEGER,
        response_excerpt TEXT,
        error TEXT,
        UNIQUE (outbox_id, attempt_no)
    )
    """,
    """
    CREATE TABLE job_runs (
        job TEXT PRIMARY KEY,
        lease_owner TEXT,
        lease_expires_utc TEXT,
        last_slot TEXT,
        last_start_utc TEXT,
        last_end_utc TEXT,
        last_status TEXT,
        last_error TEXT,
        last_owner TEXT,
        runs INTEGER NOT NULL DEFAULT 0
    )
    """,
]

MIGRATIONS.append(("m007_alerts", M007_ALERTS))
