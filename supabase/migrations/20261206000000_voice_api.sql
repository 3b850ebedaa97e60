-- Which voice API an interview speaks: GPT-Live (OpenAI's current API; its sessions are created
-- only by a server, and Viva limits what the candidate's computer may send on them) or Realtime
-- (still served; a client on it can change the interviewer's instructions with session.update).
-- A tenant's default, overridden per interview by an interviewer while it is scheduled. Nobody
-- else may choose: a candidate picking Realtime for their own interview could steer it.

alter table public.tenants
    add column voice_api text not null default 'live'
    check (voice_api in ('live', 'realtime'));

alter table public.interview_sessions
    add column voice_api text
    check (voice_api in ('live', 'realtime'));

-- Interviewers set it when scheduling and while the interview has not started; the session
-- update trigger below keeps it out of a candidate's reach.
grant insert (voice_api) on public.interview_sessions to authenticated;
grant update (voice_api) on public.interview_sessions to authenticated;

-- The API an interview speaks: its own choice, else its tenant's default.
create function public.viva_session_voice_api(session uuid) returns text
    language sql
    stable
    security definer
    set search_path = ''
as $$
    select coalesce(s.voice_api, t.voice_api)
    from public.interview_sessions s
    join public.tenants t on t.id = s.tenant_id
    where s.id = session;
$$;
revoke all on function public.viva_session_voice_api(uuid) from public;
grant execute on function public.viva_session_voice_api(uuid) to service_role;

-- The candidate's rule now also keeps voice_api unchanged (the rest as in 20261205000000).
create or replace function viva_private.check_session_update() returns trigger
    language plpgsql
    set search_path = ''
as $$
declare
    claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb;
    caller text := claims ->> 'sub';
    caller_role text := claims -> 'app_metadata' ->> 'viva_role';
begin
    -- Users (PostgREST's `authenticated`) are checked; trusted server roles are not.
    if current_user = 'authenticated' then
        if old.status = 'active' and old.candidate_id::text = caller then
            -- A candidate ends their own live session: status and how it ended, nothing else.
            if new.status not in ('completed', 'interrupted', 'failed') or new.ended_at is null
                or (new.id, new.tenant_id, new.candidate_id, new.candidate_email, new.interviewer_id,
                    new.title, new.question_set, new.mode, new.scheduled_at, new.started_at,
                    new.model, new.created_at, new.voice_api)
                   is distinct from
                   (old.id, old.tenant_id, old.candidate_id, old.candidate_email, old.interviewer_id,
                    old.title, old.question_set, old.mode, old.scheduled_at, old.started_at,
                    old.model, old.created_at, old.voice_api)
            then
                raise exception using errcode = '42501',
                    message = 'a candidate may only end their own live session (status, ended_at, duration_ms, realtime_cost_usd)';
            end if;
        elsif old.status = 'scheduled' and caller_role = 'interviewer' then
            -- An interviewer edits or cancels an interview that has not started.
            if new.status not in ('scheduled', 'cancelled')
                or (new.id, new.tenant_id, new.interviewer_id, new.mode, new.started_at,
                    new.ended_at, new.duration_ms, new.model, new.realtime_cost_usd, new.created_at)
                   is distinct from
                   (old.id, old.tenant_id, old.interviewer_id, old.mode, old.started_at,
                    old.ended_at, old.duration_ms, old.model, old.realtime_cost_usd, old.created_at)
                or (new.candidate_id is distinct from old.candidate_id
                    and new.candidate_email is not distinct from old.candidate_email)
            then
                raise exception using errcode = '42501',
                    message = 'an interviewer may only edit or cancel a scheduled interview (title, question_set, scheduled_at, candidate_email, voice_api, status)';
            end if;
            -- A new address unbinds whoever the old one named: they can no longer start it.
            if new.candidate_email is distinct from old.candidate_email then
                new.candidate_id := null;
            end if;
        else
            raise exception using errcode = '42501',
                message = format('this session cannot be changed by you now (it is %s)', old.status);
        end if;
    end if;
    -- When the server saw the session end: the reference for marking late lines.
    if new.status in ('completed', 'interrupted', 'failed', 'cancelled')
        and old.status not in ('completed', 'interrupted', 'failed', 'cancelled') then
        new.closed_at := now();
    elsif new.status in ('scheduled', 'active') then
        new.closed_at := null;
    end if;
    return new;
end;
$$;
