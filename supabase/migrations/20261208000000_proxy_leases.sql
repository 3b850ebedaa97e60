-- One live connection per interview across every instance of the SDP proxy (W2-5): the proxy
-- keeps the hold on an interview in a row here. A row names its holder (the proxy instance and
-- the socket), the user and the sign-in that hold it (so the same sign-in reconnecting replaces
-- it at once and anyone else is refused), and the call the interview has. A live instance
-- renews its rows every few seconds; a row whose `expires_at` has passed, on this database's
-- clock, is free, so a crashed or cut-off instance's interviews free themselves within the
-- lease's lifetime (12 s). See crates/proxy/src/lease/pg.rs for why a row rather than an
-- advisory lock, and for the statements the proxy runs.
--
-- Only the proxy's own role reaches the table: the schema is not exposed by PostgREST, and
-- neither the API roles nor the service role are granted anything. The operator gives the
-- role a login and a password (docs/deploying.md):
--     alter role viva_proxy with login password '...';
-- The role is `noinherit`: were it also let read sessions as their users
-- (`grant authenticated to viva_proxy`, only for `--sessions database`), it would hold those
-- rights only inside the read-only transactions that become `authenticated`.

-- Roles belong to the whole cluster: it may exist already (another database's migration).
do $$
begin
    create role viva_proxy nologin noinherit;
exception when duplicate_object or unique_violation then null;
end $$;

create schema viva_proxy;
revoke all on schema viva_proxy from public;
grant usage on schema viva_proxy to viva_proxy;

create table viva_proxy.leases (
    session_id uuid primary key,
    -- The proxy instance (random per start) and the socket that hold the interview.
    holder uuid not null,
    conn_id uuid not null,
    user_id uuid not null,
    -- The access token's `session_id` (one sign-in on one computer); '' when it had none, and
    -- then nobody replaces the holder at once.
    auth_session text not null,
    acquired_at timestamptz not null default now(),
    expires_at timestamptz not null,
    -- The provider's call the interview has (a GPT-Live session or a Realtime call), kept when
    -- the lease changes hands so the new holder can end or reuse it.
    call_live boolean,
    call_id text
) with (fillfactor = 50);
-- Renewals rewrite `expires_at` every few seconds: room on the page keeps them HOT updates.

create index leases_holder on viva_proxy.leases (holder);

comment on table viva_proxy.leases is
    'The SDP proxy''s hold on each live interview: one row per interview, renewed by its holder, free once expires_at has passed.';

revoke all on viva_proxy.leases from public;
do $$
declare
    api_role text;
begin
    -- A hosted project grants its API roles on new tables by default: take that back here.
    foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on viva_proxy.leases from %I', api_role);
        end if;
    end loop;
end $$;
grant select, insert, update, delete on viva_proxy.leases to viva_proxy;

-- Defence in depth: were the table ever granted to another role, it would see no row.
alter table viva_proxy.leases enable row level security;
create policy "the proxy keeps its leases" on viva_proxy.leases
    for all to viva_proxy using (true) with check (true);
