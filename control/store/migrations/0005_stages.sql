-- 0005: every status of the Grid seed and one row per pipeline phase (#16).
-- The phase failures (BUILD_FAILED, PUSH_FAILED, DEPLOY_FAILED, HEALTH_FAILED) and the
-- pre-deploy statuses (BACKUP_*, MIGRATION_*) join the CHECK. All of them are non-terminal
-- (state_machine.cc is_terminal(): a phase failure is followed by FAILED once the runner has
-- cleaned up), so they join the one-in-flight index too.
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
    'QUEUED', 'CLONING', 'SCANNING', 'REVIEW', 'AWAITING_APPROVAL', 'BUILDING', 'BUILD_FAILED',
    'PUSH_FAILED', 'BACKUP_RUNNING', 'BACKUP_FAILED', 'MIGRATION_PLANNING', 'MIGRATION_RUNNING',
    'MIGRATION_FAILED', 'DEPLOYING', 'DEPLOY_FAILED', 'HEALTH_CHECK', 'HEALTH_FAILED', 'ACTIVE',
    'INACTIVE', 'FAILED', 'CANCELLED', 'ROLLING_BACK', 'ROLLED_BACK'));

DROP INDEX deployments_one_in_flight;
CREATE UNIQUE INDEX deployments_one_in_flight ON deployments(service_id)
    WHERE status IN ('QUEUED', 'CLONING', 'SCANNING', 'REVIEW', 'AWAITING_APPROVAL', 'BUILDING',
                     'BUILD_FAILED', 'PUSH_FAILED', 'BACKUP_RUNNING', 'BACKUP_FAILED',
                     'MIGRATION_PLANNING', 'MIGRATION_RUNNING', 'MIGRATION_FAILED', 'DEPLOYING',
                     'DEPLOY_FAILED', 'HEALTH_CHECK', 'HEALTH_FAILED', 'ROLLING_BACK');

-- The jsonb list of {status, at} kept so far is the status history; pipeline_stages is now
-- the phase records below (the API builds it from them).
ALTER TABLE deployments RENAME COLUMN pipeline_stages TO status_history;

-- One row per phase a deployment went through (state_machine.cc stage_of()): opened when the
-- deployment enters a status of that phase, closed when it leaves it. outcome is NULL while
-- the phase runs. clock_timestamp(), not now(): two phases in one transaction keep their order.
CREATE TABLE deployment_stages (
    id            bigserial PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name IN ('clone', 'analyze', 'approval', 'build', 'backup',
                                                'migration', 'deploy', 'health_check')),
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz,
    outcome       text CHECK (outcome IN ('ok', 'failed', 'cancelled', 'skipped')),
    detail        text NOT NULL DEFAULT '',
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX deployment_stages_deployment ON deployment_stages(deployment_id, id);
-- At most one open phase per deployment.
CREATE UNIQUE INDEX deployment_stages_one_open ON deployment_stages(deployment_id)
    WHERE ended_at IS NULL;
