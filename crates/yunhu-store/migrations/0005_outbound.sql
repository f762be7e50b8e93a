-- Manual outbound tasks (人工外呼) of open95 §6.3: project remarks, the tasks, every number a task
-- dials with its own dialing state, and stable ids for skill-group memberships.

-- open95 projects carry a remark; provisioning leaves it alone.
ALTER TABLE projects ADD COLUMN remark TEXT NOT NULL DEFAULT '';

-- One row per task. `queue` is the outbound skill group created with the task (its groupDn);
-- `status` uses the seed's codes: 0 invalid (deleted), 2 planned, 3 running, 4 paused, 5 ended,
-- 6 terminated. The counters are kept in the same transactions that change the numbers.
CREATE TABLE outbound_tasks (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    task_code TEXT NOT NULL,
    name TEXT NOT NULL,
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    create_type TEXT NOT NULL,
    time_from TEXT NOT NULL,
    time_to TEXT NOT NULL,
    data_object TEXT NOT NULL,
    call_type BIGINT NOT NULL,
    ratio BIGINT NOT NULL,
    idle_time BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    script TEXT NOT NULL,
    remark TEXT NOT NULL,
    status BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    call_num BIGINT NOT NULL DEFAULT 0,
    contact_num BIGINT NOT NULL DEFAULT 0,
    touch_num BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A deleted task frees its short code.
CREATE UNIQUE INDEX outbound_tasks_code ON outbound_tasks (tenant_id, task_code) WHERE deleted = 0;
CREATE INDEX outbound_tasks_status ON outbound_tasks (tenant_id, status);

-- The numbers of a task. `state` is where the number is in its life (pending, dialing, or the
-- outcome that finished it); `last_outcome` is what its latest attempt gave, also while a retry
-- waits; `answered_at` is the first answer (what touchNum counts).
CREATE TABLE outbound_numbers (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    task_id BIGINT NOT NULL,
    mobile TEXT NOT NULL,
    mobile_des TEXT NOT NULL,
    state TEXT NOT NULL,
    last_outcome TEXT NOT NULL DEFAULT '',
    attempts BIGINT NOT NULL DEFAULT 0,
    retries_left BIGINT NOT NULL,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT NOT NULL,
    answered_at BIGINT,
    last_call_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, task_id, mobile)
);
-- What the dialer asks for: a task's due numbers in one state, oldest due first.
CREATE INDEX outbound_numbers_due ON outbound_numbers (tenant_id, task_id, state, next_attempt_at);
CREATE INDEX outbound_numbers_task ON outbound_numbers (tenant_id, task_id, id);

-- open95 lists a skill group's members with an id and deletes them by it; staff_queues (the
-- membership itself) has none, so ids are allocated here, once per membership.
CREATE TABLE queue_member_ids (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    queue_code TEXT NOT NULL,
    user_code TEXT NOT NULL,
    UNIQUE (tenant_id, queue_code, user_code)
)
