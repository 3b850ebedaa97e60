-- The transcript of record for Realtime calls (W2-5 item 6, docs/protocols.md §3): the SDP proxy
-- now also listens to each Realtime call it creates, on the call's server-side connection
-- (`wss://…/v1/realtime?call_id=…` with the project key), and stores the final transcript of
-- each conversation item with the provider's item id. On a Realtime call the client's line ids
-- ARE those item ids, so review matches lines by item id
-- (`viva_contract::observed::compare`).
--
-- Nothing else changes: the same tables, policies and trigger (20261209000000_observed_record.sql).
-- The new column is nullable (GPT-Live fragments carry no item id) and, like every column of a
-- fragment, written once by the proxy and never changed: it gets an insert grant for
-- `viva_proxy` and nothing more. Interviewers read it with the rest of the row (their select
-- is table-wide); candidates still see no row.

alter table public.observed_fragments
    add column item_id text
        constraint observed_fragments_item_id_length
        check (item_id is null or char_length(item_id) between 1 and 200);

comment on column public.observed_fragments.item_id is
    'The provider''s conversation item (a Realtime call''s item id, as in the client''s line ids); null on GPT-Live.';

-- Column by column, as in 20261209000000: the proxy may set it when it inserts a fragment.
grant insert (item_id) on public.observed_fragments to viva_proxy;
