-- 0004: pushes are coalesced, never dropped, and workers heartbeat their deployments (#15).
-- A push for a service with a deployment in flight is remembered here (the newest commit per
-- service and branch) and deployed by the pipeline's sweep once that deployment has ended.
CREATE TABLE pending_pushes (
    service_id  uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    branch      text NOT NULL,
    commit_hash text NOT NULL DEFAULT '',
    provider    text NOT NULL,
    delivery_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, branch)
);

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check CHECK (status IN
    ('processed', 'ping', 'no_match', 'skipped', 'queued_after', 'ignored', 'rejected'));

-- A worker running a deployment writes this every few seconds (#15), so a dead worker is
-- told from a slow stage within [deploy] visibility_timeout_s, not by updated_at.
ALTER TABLE deployments ADD COLUMN heartbeat_at timestamptz;

-- Webhooks per service (#15): each service's own secret (AES-256-GCM, AAD "<id>/webhook"). A
-- push deploys only services whose secret verified it; the installation-wide secrets of
-- [webhooks] deploy only services of administrators.
ALTER TABLE services ADD COLUMN webhook_secret_sealed text;
