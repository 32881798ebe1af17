-- 0003: ACTIVE means served (#15). Each service names the deployment its routes serve (the
-- desired state); the expected route table is stored once; every edge's observed state is
-- recorded; a deployment lists the edges that have not acknowledged it yet.

-- The deployment a service's routes point at. Set before the route push of a deploy or a
-- rollback, so the table that is pushed already serves it; reverted if no edge takes it.
ALTER TABLE services ADD COLUMN live_deployment_id uuid REFERENCES deployments(id) ON DELETE SET NULL;
UPDATE services s SET live_deployment_id = d.id FROM deployments d
    WHERE d.service_id = s.id AND d.status = 'ACTIVE';
-- Why the service's route was left out of the last table (a host an edge would refuse).
ALTER TABLE services ADD COLUMN route_error text;

ALTER TABLE deployments ADD COLUMN edges_pending text[] NOT NULL DEFAULT '{}';

-- The table every edge should hold: one row, replaced under an advisory lock, so versions
-- only increase. served: the deployments whose routes it carries.
CREATE TABLE route_state (
    id         integer PRIMARY KEY CHECK (id = 1),
    version    bigint NOT NULL,
    hash       text NOT NULL,
    body       text NOT NULL,
    served     uuid[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What each configured edge held when last asked (GET system/edges/).
CREATE TABLE edge_status (
    socket     text PRIMARY KEY,
    reachable  boolean NOT NULL DEFAULT false,
    version    bigint,
    hash       text,
    in_sync    boolean NOT NULL DEFAULT false,
    last_sync  timestamptz,
    last_error text,
    checked_at timestamptz
);
