-- 0001: the control-plane schema (#3). Applied in one transaction by `berth-control migrate`.

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is stored; the token itself is printed once by `token create`.
CREATE TABLE tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);

-- A service's name is its deployment directory and its host label, so it is unique globally.
CREATE TABLE services (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id            uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                  text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' AND name <> 'www'),
    deploy_type           text NOT NULL DEFAULT 'GIT'
                          CHECK (deploy_type IN ('GIT', 'DOCKER', 'UPLOAD', 'TEMPLATE', 'FUNCTION')),
    buildpack             text NOT NULL DEFAULT 'NIXPACKS' CHECK (buildpack IN ('NIXPACKS', 'DOCKER', 'STATIC')),
    repo_url              text NOT NULL DEFAULT '',
    branch                text NOT NULL DEFAULT 'main',
    root_directory        text NOT NULL DEFAULT '',
    build_command         text,
    start_command         text,
    framework             text,
    health_check_path     text NOT NULL DEFAULT '/health',
    health_check_port     integer CHECK (health_check_port BETWEEN 1 AND 65535),
    health_check_interval integer NOT NULL DEFAULT 30,
    health_check_timeout  integer NOT NULL DEFAULT 300,
    health_check_retries  integer NOT NULL DEFAULT 90,
    auto_restart          boolean NOT NULL DEFAULT true,
    restart_policy        text NOT NULL DEFAULT 'always'
                          CHECK (restart_policy IN ('always', 'unless-stopped', 'on-failure', 'no')),
    min_replicas          integer NOT NULL DEFAULT 1 CHECK (min_replicas >= 0),
    strategy              text NOT NULL DEFAULT 'ROLLING' CHECK (strategy IN ('ROLLING', 'BLUE_GREEN', 'CANARY')),
    auto_deploy           boolean NOT NULL DEFAULT true,
    require_approval      boolean NOT NULL DEFAULT false,
    health_webhook_token_hash text NOT NULL,
    health_status         text NOT NULL DEFAULT 'unknown',
    health_details        jsonb NOT NULL DEFAULT '{}',
    health_updated_at     timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_project ON services(project_id);

-- value_sealed: base64(nonce || AES-256-GCM ciphertext || tag), AAD = service id + key.
CREATE TABLE env_vars (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_id   uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    value_sealed text NOT NULL,
    is_secret    boolean NOT NULL DEFAULT false,
    is_locked    boolean NOT NULL DEFAULT false,
    source       text NOT NULL DEFAULT 'USER' CHECK (source IN ('USER', 'SYSTEM', 'ADDON', 'SHORTCODE')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, key)
);

CREATE TABLE domains (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_id  uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    hostname    text NOT NULL UNIQUE,
    verified    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deployments (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_id          uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    status              text NOT NULL DEFAULT 'QUEUED' CHECK (status IN (
                            'QUEUED', 'CLONING', 'SCANNING', 'REVIEW', 'AWAITING_APPROVAL', 'BUILDING',
                            'DEPLOYING', 'HEALTH_CHECK', 'ACTIVE', 'INACTIVE', 'FAILED', 'CANCELLED',
                            'ROLLING_BACK', 'ROLLED_BACK')),
    pipeline_stages     jsonb NOT NULL DEFAULT '[]',
    commit_hash         text NOT NULL DEFAULT '',
    branch              text NOT NULL DEFAULT '',
    is_rollback         boolean NOT NULL DEFAULT false,
    rollback_of         uuid REFERENCES deployments(id) ON DELETE SET NULL,
    queued_min_replicas integer NOT NULL DEFAULT 1,
    review_summary      jsonb,
    error_message       text,
    artifact_path       text,
    approved            boolean NOT NULL DEFAULT false,
    trigger_source      text NOT NULL DEFAULT 'api',
    triggered_by        uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz
);
CREATE INDEX deployments_service_created ON deployments(service_id, created_at DESC);
CREATE INDEX deployments_queued ON deployments(updated_at) WHERE status = 'QUEUED';
-- At most one deployment in a non-terminal status per service, enforced here and not only in
-- code: concurrent triggers race on this index and all but one get a unique violation (409).
CREATE UNIQUE INDEX deployments_one_in_flight ON deployments(service_id)
    WHERE status IN ('QUEUED', 'CLONING', 'SCANNING', 'REVIEW', 'AWAITING_APPROVAL', 'BUILDING',
                     'DEPLOYING', 'HEALTH_CHECK', 'ROLLING_BACK');
-- And at most one ACTIVE deployment per service.
CREATE UNIQUE INDEX deployments_one_active ON deployments(service_id) WHERE status = 'ACTIVE';

CREATE TABLE build_logs (
    id            bigserial PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    stream        text NOT NULL DEFAULT 'build',
    line          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX build_logs_deployment ON build_logs(deployment_id, id);

-- One accepted row per (provider, delivery_id). Duplicates are kept as status 'ignored' and
-- bad signatures as 'rejected'; both stay outside the unique index, so a forged delivery
-- cannot claim a real delivery's id in advance.
CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    provider      text NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket')),
    delivery_id   text NOT NULL,
    event         text NOT NULL DEFAULT '',
    status        text NOT NULL CHECK (status IN ('processed', 'ping', 'no_match', 'skipped',
                                                  'ignored', 'rejected')),
    reason        text NOT NULL DEFAULT '',
    deployment_ids uuid[] NOT NULL DEFAULT '{}',
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries(provider, delivery_id)
    WHERE status NOT IN ('ignored', 'rejected');

-- Route tables pushed to edges are versioned by this sequence (whole snapshots, increasing).
CREATE SEQUENCE route_table_version;
