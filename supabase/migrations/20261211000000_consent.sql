-- Consent before recording (W2-8 item 3, docs/protocols.md §1): before the first word of an
-- interview the candidate reads what is recorded, who reads it and where it is kept, and
-- agrees. `interview-start` records when (the server's clock) and which version of the notice
-- they agreed to, and refuses to start an interview without a recorded agreement, so a
-- modified client cannot skip the notice.
--
-- Nobody writes these columns through the API: they get no insert or update grant (the column
-- grants of 20261122000000 and 20261205000000 name what users may write), and the session
-- update trigger keeps them unchanged for users as well. Only the functions' own connection
-- records them, once: the first agreement stays. Whoever reads the session reads them.

alter table public.interview_sessions
    add column consent_at timestamptz,
    add column consent_notice text
        constraint interview_sessions_consent_notice_format
        check (consent_notice is null or consent_notice ~ '^[A-Za-z0-9._-]{1,64}$'),
    add constraint interview_sessions_consent_whole
        check ((consent_at is null) = (consent_notice is null));

comment on column public.interview_sessions.consent_at is
    'When the candidate agreed to the recording notice (the server''s clock, recorded by interview-start).';
comment on column public.interview_sessions.consent_notice is
    'The version of the recording notice the candidate agreed to.';

-- The rules of 20261206000000, plus: a user never changes a consent, and nobody — the
-- functions' own connection included — makes an interview live without one.
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
        if (new.consent_at, new.consent_notice) is distinct from (old.consent_at, old.consent_notice) then
            raise exception using errcode = '42501',
                message = 'a consent is recorded by interview-start only';
        end if;
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
    -- An interview goes live only with the candidate's recorded agreement, whoever writes it.
    if new.mode = 'interview' and new.status = 'active' and old.status <> 'active'
        and new.consent_at is null then
        raise exception using errcode = '23514',
            message = 'an interview starts only after the candidate has agreed to the recording notice';
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
