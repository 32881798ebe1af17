-- 0002: the append-only, hash-chained audit log (#3).
-- hash = sha256(prev_hash || canonical JSON of the row); the genesis prev_hash is 64 zeros.
-- created_at and details are stored as the exact text that was hashed, so verification
-- recomputes the same bytes.
CREATE TABLE audit_log (
    id          bigint PRIMARY KEY,
    created_at  text NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     text NOT NULL,
    prev_hash   text NOT NULL CHECK (length(prev_hash) = 64),
    hash        text NOT NULL UNIQUE CHECK (length(hash) = 64)
);
CREATE SEQUENCE audit_log_id_seq OWNED BY audit_log.id;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
