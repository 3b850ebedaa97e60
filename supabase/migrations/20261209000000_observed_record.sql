-- The transcript of record (W2-5 item 6, docs/protocols.md §3): the SDP proxy listens to each
-- GPT-Live session it creates and keeps what the provider said there, so review can hold the
-- lines the candidate's computer uploaded against it (`viva_contract::observed::compare`).
--
-- * `observed_windows`: the stretches of a provider session's timeline (`from_ms` to `to_ms`,
--   milliseconds from that session's start) during which one proxy instance was listening. A
--   drain, a lost event stream or a crash ends a window; the time until the next one is a gap,
--   and review never judges a line in a gap. `end_reason` says how it ended; a window a crash
--   left open (`ended_at` null) ends at its last checkpoint (`to_ms`).
-- * `observed_fragments`: the transcript fragments heard in a window, in the order the proxy
--   received them (`id`).
--
-- Who may do what, and why:
-- * Only the proxy writes, as the role `viva_proxy` (created by 20261208000000_proxy_leases.sql;
--   the operator gives it a login, docs/deploying.md). A record the candidate's computer could
--   touch would prove nothing, so users never write here, and neither does the service role:
--   the edge functions have no business in it, and a leaked service key then cannot forge it.
-- * What is recorded stays as recorded: a fragment is never updated or deleted, and goes only
--   into a window that is still open; a window may only grow (`to_ms`) and end, once. A closed
--   window is final, so nobody can stretch it over a gap after the fact and have review judge
--   lines there against a record that was never heard.
-- * Interviewers of the tenant read both through PostgREST, for review; candidates and anon
--   read nothing (it would tell a candidate exactly where the record has gaps).
-- * The database keeps every row in its session's tenant (composite foreign keys), whoever
--   writes it.

create table public.observed_windows (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null,
    session_id uuid not null,
    -- The provider's session (`live_…`), as in the client's line ids.
    provider_session text not null check (char_length(provider_session) between 1 and 200),
    api text not null check (api in ('live', 'realtime')),
    -- The proxy instance that listened (its id in /health and in viva_proxy.leases).
    instance text not null check (char_length(instance) between 1 and 200),
    from_ms bigint not null check (from_ms >= 0),
    to_ms bigint not null,
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    end_reason text check (end_reason in ('closed', 'drain', 'lost')),
    constraint observed_windows_ends_after_it_starts check (to_ms >= from_ms),
    constraint observed_windows_ended_with_a_reason check ((ended_at is null) = (end_reason is null)),
    -- A window's tenant is its session's tenant; deleting a session deletes its record.
    constraint observed_windows_session_tenant foreign key (session_id, tenant_id)
        references public.interview_sessions (id, tenant_id) on delete cascade,
    -- What a fragment's foreign key names, so that it must agree with its window on all four.
    constraint observed_windows_fragment_key unique (id, session_id, tenant_id, provider_session)
);
create index observed_windows_session on public.observed_windows (session_id, started_at);

create table public.observed_fragments (
    -- Arrival order: the comparison joins each speaker's fragments in this order, as the
    -- client joins them.
    id bigint generated always as identity primary key,
    window_id uuid not null,
    tenant_id uuid not null,
    session_id uuid not null,
    provider_session text not null,
    speaker text not null check (speaker in ('candidate', 'interviewer')),
    -- A fragment is a few words; the cap is a transcript line's (viva_contract::MAX_LINE_CHARS),
    -- and the proxy stores anything longer as consecutive parts rather than lose it.
    text text not null check (char_length(text) <= 20000),
    start_ms bigint not null check (start_ms >= 0),
    end_ms bigint not null,
    constraint observed_fragments_ends_after_it_starts check (end_ms >= start_ms),
    -- A fragment belongs to its window's session, tenant and provider session, whoever writes it.
    constraint observed_fragments_window foreign key (window_id, session_id, tenant_id, provider_session)
        references public.observed_windows (id, session_id, tenant_id, provider_session) on delete cascade
);
create index observed_fragments_session on public.observed_fragments (session_id, id);
create index observed_fragments_window on public.observed_fragments (window_id);

comment on table public.observed_windows is
    'When the SDP proxy listened to each provider session (from_ms..to_ms on its timeline); written by the proxy only.';
comment on table public.observed_fragments is
    'The transcript fragments the SDP proxy heard, in arrival order (id); written by the proxy only, never changed.';

-- Privileges. A hosted project grants its API roles everything on new tables (and sequences)
-- in `public` by default: take that back first, then give each role only what it needs.
revoke all on public.observed_windows, public.observed_fragments from public;
do $$
declare
    api_role text;
    fragment_ids text := pg_get_serial_sequence('public.observed_fragments', 'id');
begin
    foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on public.observed_windows, public.observed_fragments from %I', api_role);
            execute format('revoke all on sequence %s from %I', fragment_ids, api_role);
        end if;
    end loop;
end $$;
-- Reads only; row security below narrows them to the caller's tenant's interviewers.
grant select on public.observed_windows, public.observed_fragments to authenticated;
-- The service role bypasses row security: it may read (operators' tooling), never write.
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant select on public.observed_windows, public.observed_fragments to service_role;
    end if;
end $$;

-- The proxy: column by column, so it can neither choose a row's id or `started_at` (the
-- database's clock) nor insert a window already ended, nor change anything of a window but its
-- end; nothing of a fragment once stored. It reads back its own record (and nothing else of
-- the schema: no grant on sessions or transcript lines).
grant usage on schema public to viva_proxy;
grant select on public.observed_windows, public.observed_fragments to viva_proxy;
grant insert (tenant_id, session_id, provider_session, api, instance, from_ms, to_ms)
    on public.observed_windows to viva_proxy;
grant update (to_ms, ended_at, end_reason) on public.observed_windows to viva_proxy;
grant insert (window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms)
    on public.observed_fragments to viva_proxy;

alter table public.observed_windows enable row level security;
alter table public.observed_fragments enable row level security;

-- The same test as for transcript lines (20261122000000_viva_schema.sql): the caller's tenant
-- and Viva role from the JWT's app_metadata, which users cannot edit.
create policy "interviewers read their tenant's observed windows" on public.observed_windows
    for select to authenticated
    using (tenant_id = public.viva_tenant() and public.viva_role() = 'interviewer');
create policy "interviewers read their tenant's observed fragments" on public.observed_fragments
    for select to authenticated
    using (tenant_id = public.viva_tenant() and public.viva_role() = 'interviewer');

create policy "the proxy reads its record" on public.observed_windows
    for select to viva_proxy using (true);
create policy "the proxy reads its record" on public.observed_fragments
    for select to viva_proxy using (true);
create policy "the proxy opens windows" on public.observed_windows
    for insert to viva_proxy
    with check (ended_at is null and end_reason is null);
-- Only an open window can be reached at all; the trigger below checks how it changes (a
-- policy cannot compare the new row with the old one).
create policy "the proxy moves or ends an open window" on public.observed_windows
    for update to viva_proxy
    using (ended_at is null)
    with check (true);
create policy "the proxy adds fragments to open windows" on public.observed_fragments
    for insert to viva_proxy
    with check (exists (
        select 1 from public.observed_windows w
        where w.id = window_id and w.ended_at is null
    ));

-- Checked for every role, the table's owner included: a window only moves forward and ends
-- once, when the database says (`ended_at` is its clock, not an instance's).
create function viva_private.check_observed_window_update() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    if old.end_reason is not null then
        raise exception using errcode = '42501',
            message = format('observation window %s ended (%s): it is final', old.id, old.end_reason);
    end if;
    if (new.id, new.tenant_id, new.session_id, new.provider_session, new.api, new.instance,
        new.from_ms, new.started_at)
       is distinct from
       (old.id, old.tenant_id, old.session_id, old.provider_session, old.api, old.instance,
        old.from_ms, old.started_at)
    then
        raise exception using errcode = '42501',
            message = 'an observation window may only move its end (to_ms) and end (end_reason)';
    end if;
    if new.to_ms < old.to_ms then
        raise exception using errcode = '42501',
            message = format('an observation window never shrinks: to_ms %s is before %s', new.to_ms, old.to_ms);
    end if;
    if new.end_reason is not null then
        new.ended_at := now();
    elsif new.ended_at is not null then
        raise exception using errcode = '23514', message = 'a window ends with a reason';
    end if;
    return new;
end;
$$;
revoke all on function viva_private.check_observed_window_update() from public;

create trigger check_observed_window_update before update on public.observed_windows
    for each row execute function viva_private.check_observed_window_update();
