-- What Viva's own edge functions (supabase/functions) rely on (W2-4).
--
-- 1. A per-organisation switch for the voice path and a staged rollout of it, read by
--    `interview-start` on every grant: an operator turns voice off for a tenant (everyone there
--    gets typed answers, `mode: "text"`) or lets only a stable share of its users have voice,
--    without a client update. Only the operator changes them (SQL editor or service role):
--    users can read their tenant's row but never write it.
-- 2. A transcript line belongs to its session's tenant: a composite foreign key makes a line
--    whose tenant differs from its session's impossible, whoever writes it (the service role
--    included, which row-level security does not check).

alter table public.tenants
    add column voice_enabled boolean not null default true,
    add column voice_rollout_percent smallint not null default 100
        check (voice_rollout_percent between 0 and 100);

alter table public.interview_sessions
    add constraint interview_sessions_id_tenant unique (id, tenant_id);

alter table public.transcript_entries
    add constraint transcript_entries_session_tenant
        foreign key (session_id, tenant_id) references public.interview_sessions (id, tenant_id);

-- The pipeline's writer reads the new settings nowhere; interview-start reads them with the
-- function's own (service) connection.
