-- 0008: real builds (#16). Two more per-service overrides of Analyze's plan (build_command,
-- start_command and framework exist since 0001); the environment a build saw, by name and
-- source (never values); and the auto-secrets an env template asked for, generated once per
-- service and sealed like env_vars values (AAD = service id + "/auto/" + key).
ALTER TABLE services ADD COLUMN install_command text;
ALTER TABLE services ADD COLUMN output_directory text;
ALTER TABLE deployments ADD COLUMN build_environment jsonb;

CREATE TABLE generated_secrets (
    service_id   uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    value_sealed text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, key)
);
