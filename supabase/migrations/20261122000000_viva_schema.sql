-- Viva's tables for a hosted Supabase project, with row-level security.
-- Isolation reads the caller's JWT: tenant and Viva role travel in app_metadata, which users
-- cannot edit. A candidate sees their own sessions; an interviewer sees every session of their
-- tenant. Transcript lines are written by the transcript-processor function (service role) or by
-- the candidate into their own session. The local stack enforces the same rules in code.

create table public.tenants (
    id uuid primary key default gen_random_uuid(),
    name text not null
);

create table public.interview_sessions (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id),
    candidate_id uuid,
    candidate_email text,
    interviewer_id uuid,
    title text not null,
    question_set text not null,
    mode text not null default 'interview' check (mode in ('practice', 'interview')),
    status text not null default 'scheduled'
        check (status in ('scheduled', 'active', 'completed', 'interrupted', 'failed', 'cancelled')),
    scheduled_at timestamptz,
    started_at timestamptz,
    ended_at timestamptz,
    duration_ms bigint check (duration_ms >= 0),
    model text,
    realtime_cost_usd numeric(12, 6),
    created_at timestamptz not null default now()
);
create index interview_sessions_tenant on public.interview_sessions (tenant_id, scheduled_at);
create index interview_sessions_candidate on public.interview_sessions (candidate_id);

create table public.transcript_entries (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id),
    session_id uuid not null references public.interview_sessions (id),
    item_id text not null,
    seq integer not null check (seq >= 0),
    speaker text not null check (speaker in ('candidate', 'interviewer')),
    text text not null,
    started_ms bigint not null check (started_ms >= 0),
    ended_ms bigint,
    created_at timestamptz not null default now(),
    unique (session_id, item_id)
);

-- The caller's tenant and Viva role, from the JWT's app_metadata.
create function public.viva_tenant() returns uuid
    language sql stable
    as $$ select nullif(auth.jwt() -> 'app_metadata' ->> 'tenant_id', '')::uuid $$;

create function public.viva_role() returns text
    language sql stable
    as $$ select auth.jwt() -> 'app_metadata' ->> 'viva_role' $$;

alter table public.tenants enable row level security;
alter table public.interview_sessions enable row level security;
alter table public.transcript_entries enable row level security;

create policy "members read their tenant" on public.tenants
    for select to authenticated using (id = public.viva_tenant());

create policy "read own or tenant sessions" on public.interview_sessions
    for select to authenticated
    using (
        tenant_id = public.viva_tenant()
        and (
            public.viva_role() = 'interviewer'
            or candidate_id = auth.uid()
            or lower(candidate_email) = lower(auth.jwt() ->> 'email')
        )
    );

create policy "interviewers schedule in their tenant" on public.interview_sessions
    for insert to authenticated
    with check (
        tenant_id = public.viva_tenant()
        and public.viva_role() = 'interviewer'
        and interviewer_id = auth.uid()
        and status = 'scheduled'
        and mode = 'interview'
    );

create policy "interviewers reschedule or cancel what has not started" on public.interview_sessions
    for update to authenticated
    using (tenant_id = public.viva_tenant() and public.viva_role() = 'interviewer' and status = 'scheduled')
    with check (tenant_id = public.viva_tenant() and status in ('scheduled', 'cancelled'));

create policy "candidates close their own live session" on public.interview_sessions
    for update to authenticated
    using (tenant_id = public.viva_tenant() and candidate_id = auth.uid() and status = 'active')
    with check (
        tenant_id = public.viva_tenant()
        and candidate_id = auth.uid()
        and status in ('active', 'completed', 'interrupted', 'failed')
    );

create policy "read lines of visible sessions" on public.transcript_entries
    for select to authenticated
    using (
        tenant_id = public.viva_tenant()
        and (
            public.viva_role() = 'interviewer'
            or exists (
                select 1 from public.interview_sessions s
                where s.id = session_id and s.candidate_id = auth.uid()
            )
        )
    );

create policy "candidates add lines to their own sessions" on public.transcript_entries
    for insert to authenticated
    with check (
        tenant_id = public.viva_tenant()
        and exists (
            select 1 from public.interview_sessions s
            where s.id = session_id and s.tenant_id = public.viva_tenant() and s.candidate_id = auth.uid()
        )
    );

revoke all on public.tenants, public.interview_sessions, public.transcript_entries from anon;
grant select on public.tenants to authenticated;
grant select, insert on public.interview_sessions, public.transcript_entries to authenticated;
grant update (title, question_set, scheduled_at, candidate_email, status, ended_at, duration_ms, realtime_cost_usd)
    on public.interview_sessions to authenticated;
grant all on public.tenants, public.interview_sessions, public.transcript_entries to service_role;
