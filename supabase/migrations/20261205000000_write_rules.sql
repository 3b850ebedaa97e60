-- Write rules that follow an interview's life (W2-1). The first migration isolated reads well
-- but let users write too much: candidates inserted transcript lines directly (into finished
-- sessions, as the interviewer, or with an item_id chosen to shadow a genuine line), the two
-- UPDATE policies were OR-ed so a candidate could move their live session back to `scheduled`,
-- and interviewers could insert a finished interview naming any candidate. This migration:
--
-- 1. Takes every direct write on transcript lines away from users. Lines enter only through
--    `viva_pipeline.record_transcript_lines`, which the `transcript-processor` edge function
--    calls with the caller's verified JWT claims (see the function's comment for why that is
--    safe). It never overwrites a line, accepts lines only for the caller's own session, and
--    records who reported each line and when it arrived.
-- 2. Checks every session update against the row's current state (a trigger): a candidate may
--    only end their own live session; an interviewer may only edit or cancel a scheduled one.
-- 3. Makes interviewer inserts scheduling only.
-- 4. Records, on the server's clock, when a session was closed (`closed_at`), so that a line
--    reported well after the close (an offline sync a day later) is marked late in review.

-- The server's own bookkeeping.
alter table public.interview_sessions
    add column closed_at timestamptz;
alter table public.interview_sessions
    alter column tenant_id set default public.viva_tenant(),
    alter column interviewer_id set default auth.uid(),
    add constraint interview_sessions_cost_not_negative check (realtime_cost_usd >= 0);

alter table public.transcript_entries
    add column reported_by uuid,
    add column received_at timestamptz not null default now(),
    add column late boolean not null default false;

-- 1. Transcript lines: read-only for users.
drop policy "candidates add lines to their own sessions" on public.transcript_entries;
revoke insert, update, delete on public.transcript_entries from authenticated;

-- The role that owns the pipeline's function: it may read sessions and add lines, nothing
-- else (no update, no delete, no other table).
do $$
begin
    create role viva_pipeline_writer nologin noinherit;
exception when duplicate_object then null;
end $$;
grant viva_pipeline_writer to current_user;
grant usage on schema public to viva_pipeline_writer;
grant select (id, tenant_id, candidate_id, status, closed_at) on public.interview_sessions
    to viva_pipeline_writer;
grant insert on public.transcript_entries to viva_pipeline_writer;
-- ON CONFLICT needs to see the conflict target's columns.
grant select (session_id, item_id) on public.transcript_entries to viva_pipeline_writer;
create policy "the pipeline reads sessions" on public.interview_sessions
    for select to viva_pipeline_writer using (true);
create policy "the pipeline adds lines" on public.transcript_entries
    for insert to viva_pipeline_writer with check (true);
create policy "the pipeline sees which lines exist" on public.transcript_entries
    for select to viva_pipeline_writer using (true);

-- A schema PostgREST does not expose (only `public` is): the function is reached through the
-- edge function, not as /rest/v1/rpc. Even if it were exposed, it enforces every rule itself.
create schema viva_pipeline;
revoke all on schema viva_pipeline from public;
grant usage on schema viva_pipeline to authenticated, service_role;

-- Records a batch of transcript lines for the caller's own session.
--
-- Why this is safe although it runs with its owner's rights (security definer):
-- * the owner, viva_pipeline_writer, can only read sessions and insert lines;
-- * search_path is pinned to nothing, and every name is schema-qualified, so a caller cannot
--   slip in a table or function of their own;
-- * the caller is who the request's verified JWT says (request.jwt.claims, set by PostgREST or
--   by the edge function from a token it verified), never an argument;
-- * the session must be in the caller's tenant and bound to the caller as its candidate;
-- * a line whose (session_id, item_id) exists is left as it is (counted as a duplicate):
--   nothing is ever overwritten or deleted;
-- * each line is checked against the contract's limits; a bad one is returned in `rejected`
--   with a reason and the others are stored (one bad line never blocks a batch).
-- The candidate's computer is the only reporter of both speakers' lines (nobody else hears the
-- call) and lines kept offline arrive after the session ended: both are accepted. A line that
-- arrives more than ten minutes after the server recorded the close is stored marked `late`.
create function viva_pipeline.record_transcript_lines(p_session_id uuid, p_entries jsonb)
    returns jsonb
    language plpgsql
    security definer
    set search_path = ''
as $$
declare
    max_entries constant integer := 500;
    max_text_chars constant integer := 20000;
    max_item_id_chars constant integer := 200;
    late_after constant interval := interval '10 minutes';
    claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb;
    caller uuid;
    caller_tenant uuid;
    target record;
    entry jsonb;
    item text;
    seq_value integer;
    speaker_value text;
    text_value text;
    started_value bigint;
    ended_value bigint;
    problem text;
    problem_code text;
    inserted integer;
    accepted integer := 0;
    duplicates integer := 0;
    rejected jsonb := '[]'::jsonb;
begin
    begin
        caller := nullif(claims ->> 'sub', '')::uuid;
        caller_tenant := nullif(claims -> 'app_metadata' ->> 'tenant_id', '')::uuid;
    exception when others then
        caller := null;
    end;
    if caller is null or caller_tenant is null then
        raise exception using errcode = '42501', message = 'sign in first: no verified caller';
    end if;
    select s.id, s.tenant_id, s.candidate_id, s.closed_at into target
        from public.interview_sessions s where s.id = p_session_id;
    if not found or target.tenant_id <> caller_tenant or target.candidate_id is distinct from caller then
        raise exception using errcode = '42501', message = 'this session is not yours';
    end if;
    if jsonb_typeof(p_entries) is distinct from 'array' then
        raise exception using errcode = '22023', message = 'entries must be a JSON array';
    end if;
    if jsonb_array_length(p_entries) > max_entries then
        raise exception using errcode = '54000',
            message = format('send at most %s entries per call', max_entries);
    end if;

    for entry in select value from jsonb_array_elements(p_entries) loop
        problem := null;
        problem_code := 'invalid_entry';
        item := case when jsonb_typeof(entry -> 'item_id') = 'string' then entry ->> 'item_id' end;
        begin
            seq_value := (entry ->> 'seq')::integer;
            speaker_value := entry ->> 'speaker';
            text_value := case when jsonb_typeof(entry -> 'text') = 'string' then entry ->> 'text' end;
            started_value := (entry ->> 'started_ms')::bigint;
            ended_value := (entry ->> 'ended_ms')::bigint;
        exception when others then
            problem := 'seq and times must be whole numbers';
        end;
        if problem is not null then
            null;
        elsif jsonb_typeof(entry) is distinct from 'object' then
            problem := 'an entry must be an object';
        elsif item is null or btrim(item) = '' then
            problem := 'item_id is missing';
        elsif char_length(item) > max_item_id_chars then
            problem := format('item_id is longer than %s characters', max_item_id_chars);
        elsif speaker_value is null or speaker_value not in ('candidate', 'interviewer') then
            problem := 'speaker must be candidate or interviewer';
        elsif text_value is null then
            problem := 'text is missing';
        elsif char_length(text_value) > max_text_chars then
            problem_code := 'line_too_long';
            problem := format('the line has %s characters; the limit is %s',
                char_length(text_value), max_text_chars);
        elsif seq_value is null or seq_value < 0 or started_value is null or started_value < 0 then
            problem := 'seq and started_ms must be present and not negative';
        elsif ended_value is not null and ended_value < started_value then
            problem_code := 'ends_before_start';
            problem := 'the line ends before it starts';
        end if;
        if problem is not null then
            rejected := rejected || jsonb_build_array(jsonb_build_object(
                'item_id', coalesce(item, ''), 'code', problem_code, 'message', problem));
            continue;
        end if;
        insert into public.transcript_entries
            (tenant_id, session_id, item_id, seq, speaker, text, started_ms, ended_ms,
             reported_by, received_at, late)
        values
            (target.tenant_id, target.id, item, seq_value, speaker_value, text_value,
             started_value, ended_value, caller, now(),
             coalesce(now() > target.closed_at + late_after, false))
        on conflict (session_id, item_id) do nothing;
        get diagnostics inserted = row_count;
        accepted := accepted + inserted;
        duplicates := duplicates + (1 - inserted);
    end loop;
    return jsonb_build_object('accepted', accepted, 'duplicates', duplicates, 'rejected', rejected);
end;
$$;
alter function viva_pipeline.record_transcript_lines(uuid, jsonb) owner to viva_pipeline_writer;
revoke all on function viva_pipeline.record_transcript_lines(uuid, jsonb) from public;
grant execute on function viva_pipeline.record_transcript_lines(uuid, jsonb) to authenticated, service_role;

-- 2. Session updates follow the interview's life, per role, checked against the old row.
drop policy "interviewers reschedule or cancel what has not started" on public.interview_sessions;
drop policy "candidates close their own live session" on public.interview_sessions;

create policy "interviewers edit or cancel what has not started" on public.interview_sessions
    for update to authenticated
    using (tenant_id = public.viva_tenant() and public.viva_role() = 'interviewer' and status = 'scheduled')
    with check (tenant_id = public.viva_tenant() and public.viva_role() = 'interviewer'
        and status in ('scheduled', 'cancelled'));

create policy "candidates end their own live session" on public.interview_sessions
    for update to authenticated
    using (tenant_id = public.viva_tenant() and candidate_id = auth.uid() and status = 'active')
    with check (tenant_id = public.viva_tenant() and candidate_id = auth.uid()
        and status in ('completed', 'interrupted', 'failed'));

-- Permissive policies are OR-ed, WITH CHECK included, so the policies alone cannot say "this
-- role, from this state, to that state, touching only these columns". This trigger can.
create schema viva_private;
revoke all on schema viva_private from public;
grant usage on schema viva_private to authenticated, service_role;

create function viva_private.check_session_update() returns trigger
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
                    new.model, new.created_at)
                   is distinct from
                   (old.id, old.tenant_id, old.candidate_id, old.candidate_email, old.interviewer_id,
                    old.title, old.question_set, old.mode, old.scheduled_at, old.started_at,
                    old.model, old.created_at)
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
                    message = 'an interviewer may only edit or cancel a scheduled interview (title, question_set, scheduled_at, candidate_email, status)';
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

create trigger check_session_update before update on public.interview_sessions
    for each row execute function viva_private.check_session_update();

-- 3. Interviewers insert scheduling only: no candidate bound (the candidate is bound when they
-- start it), nothing that only happens once it has started.
drop policy "interviewers schedule in their tenant" on public.interview_sessions;
create policy "interviewers schedule in their tenant" on public.interview_sessions
    for insert to authenticated
    with check (
        tenant_id = public.viva_tenant()
        and public.viva_role() = 'interviewer'
        and interviewer_id = auth.uid()
        and status = 'scheduled'
        and mode = 'interview'
        and candidate_id is null
        and started_at is null and ended_at is null and duration_ms is null
        and realtime_cost_usd is null and model is null and closed_at is null
    );
revoke insert on public.interview_sessions from authenticated;
grant insert (tenant_id, interviewer_id, title, question_set, scheduled_at, candidate_email)
    on public.interview_sessions to authenticated;

-- A candidate reads a scheduled interview by its address only until it is bound to someone;
-- from then on only the bound candidate reads it.
drop policy "read own or tenant sessions" on public.interview_sessions;
create policy "read own or tenant sessions" on public.interview_sessions
    for select to authenticated
    using (
        tenant_id = public.viva_tenant()
        and (
            public.viva_role() = 'interviewer'
            or candidate_id = auth.uid()
            or (candidate_id is null and lower(candidate_email) = lower(auth.jwt() ->> 'email'))
        )
    );
