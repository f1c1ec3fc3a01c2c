-- Foundation schema (tables the app already writes) and the tables this bundle owns.
-- Column names of the foundation tables are part of the contract: other clients insert rows directly.

CREATE TABLE organizations (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug      text UNIQUE,
    name      text,
    timezone  text NOT NULL DEFAULT 'Europe/Oslo'
);

CREATE TABLE org_members (
    org_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL,
    role     text NOT NULL CHECK (role IN ('peer_mentor', 'coordinator', 'org_admin')),
    PRIMARY KEY (org_id, user_id, role)
);
CREATE INDEX org_members_user_idx ON org_members (user_id);

CREATE TABLE coordinator_assignments (
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    coordinator_id  uuid NOT NULL,
    peer_mentor_id  uuid NOT NULL,
    PRIMARY KEY (org_id, coordinator_id, peer_mentor_id)
);
CREATE INDEX coordinator_assignments_mentor_idx ON coordinator_assignments (org_id, peer_mentor_id);

CREATE TABLE activities (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    peer_mentor_id    uuid NOT NULL,
    activity_type     text NOT NULL,
    activity_date     date NOT NULL,
    duration_minutes  int NULL CHECK (duration_minutes IS NULL OR duration_minutes >= 0),
    status            text NOT NULL DEFAULT 'approved' CHECK (status IN ('approved', 'pending', 'rejected')),
    created_at        timestamptz DEFAULT now(),
    deleted_at        timestamptz NULL
);
CREATE INDEX activities_mentor_date_type_idx ON activities (peer_mentor_id, activity_date, activity_type);

CREATE TABLE training_completions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    peer_mentor_id  uuid NOT NULL,
    training_code   text NOT NULL,
    completed_at    timestamptz NOT NULL,
    expires_at      timestamptz NULL,
    CHECK (expires_at IS NULL OR expires_at > completed_at)
);
CREATE INDEX training_completions_mentor_idx ON training_completions (org_id, peer_mentor_id, training_code);

-- Badge definitions: criteria JSON is validated by the layer; revision increases on every change.
CREATE TABLE badge_definitions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    icon         text NULL CHECK (icon IS NULL OR length(icon) <= 500),
    criteria     jsonb NOT NULL CHECK (jsonb_typeof(criteria) = 'object' AND criteria ? 'type'),
    active       boolean NOT NULL DEFAULT true,
    revision     int NOT NULL DEFAULT 1 CHECK (revision >= 1),
    archived_at  timestamptz NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid NULL,
    updated_by   uuid NULL,
    UNIQUE (org_id, key),
    UNIQUE (org_id, id)
);

CREATE FUNCTION badge_definitions_bump_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Every change, from any client, moves the revision forward; If-Match relies on it.
    NEW.revision := OLD.revision + 1;
    NEW.updated_at := now();
    NEW.created_at := OLD.created_at;
    NEW.org_id := OLD.org_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER badge_definitions_revision
    BEFORE UPDATE ON badge_definitions
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION badge_definitions_bump_revision();

-- Earned badges: one row per (mentor, definition, level), ever. Revocation keeps the row.
CREATE TABLE earned_badges (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               uuid NOT NULL,
    peer_mentor_id       uuid NOT NULL,
    badge_definition_id  uuid NOT NULL,
    level                int NOT NULL DEFAULT 1 CHECK (level >= 1),
    earned_at            date NOT NULL,
    awarded_at           timestamptz NOT NULL DEFAULT now(),
    awarded_by           uuid NULL,
    source               text NOT NULL CHECK (source IN ('evaluation', 'manual', 'backfill')),
    definition_revision  int NOT NULL CHECK (definition_revision >= 1),
    criteria_snapshot    jsonb NOT NULL,
    note                 text NULL CHECK (note IS NULL OR length(note) <= 1000),
    revoked_at           timestamptz NULL,
    revoked_by           uuid NULL,
    revoke_reason        text NULL CHECK (revoke_reason IS NULL OR length(revoke_reason) BETWEEN 1 AND 1000),
    CONSTRAINT earned_badges_key UNIQUE (peer_mentor_id, badge_definition_id, level),
    CONSTRAINT earned_badges_definition_fk FOREIGN KEY (org_id, badge_definition_id)
        REFERENCES badge_definitions (org_id, id) ON DELETE RESTRICT,
    CONSTRAINT earned_badges_revocation CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX earned_badges_org_mentor_idx ON earned_badges (org_id, peer_mentor_id);
CREATE INDEX earned_badges_definition_idx ON earned_badges (badge_definition_id);

-- Mentors to evaluate, written by the activity/training triggers in the same transaction.
CREATE TABLE evaluation_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL,
    peer_mentor_id  uuid NOT NULL,
    reason          text NOT NULL,
    backfill        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'parked')),
    attempts        int NOT NULL DEFAULT 0,
    available_at    timestamptz NOT NULL DEFAULT now(),
    last_error      text NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz NULL
);
CREATE INDEX evaluation_outbox_pending_idx ON evaluation_outbox (available_at, id) WHERE status = 'pending';
CREATE INDEX evaluation_outbox_parked_idx ON evaluation_outbox (org_id) WHERE status = 'parked';

-- Events to publish after commit; the earned badge id is the idempotency key.
CREATE TABLE event_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    earned_badge_id  uuid NOT NULL REFERENCES earned_badges (id),
    detail_type      text NOT NULL CHECK (detail_type IN ('BadgeAwarded', 'HonorarMilestoneReached')),
    detail           jsonb NOT NULL,
    attempts         int NOT NULL DEFAULT 0,
    available_at     timestamptz NOT NULL DEFAULT now(),
    last_error       text NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz NULL,
    UNIQUE (earned_badge_id, detail_type)
);
CREATE INDEX event_outbox_unpublished_idx ON event_outbox (available_at, id) WHERE published_at IS NULL;

-- Every award, revoke and configuration change: who, when, before and after.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL,
    actor_id        uuid NULL,
    actor_kind      text NOT NULL CHECK (actor_kind IN ('user', 'system')),
    action          text NOT NULL,
    entity_type     text NOT NULL,
    entity_id       uuid NULL,
    before          jsonb NULL,
    after           jsonb NULL,
    correlation_id  text NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_time_idx ON audit_log (org_id, created_at);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_id);
