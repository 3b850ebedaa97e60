// All three edge functions behind one port, for development and the end-to-end test
// (crates/cli/tests/hosted_functions.rs): `POST /<name>` goes to that function's handler, as
// Supabase's gateway routes `/functions/v1/<name>`. The local stack forwards there when started
// with `--functions-url http://127.0.0.1:<port>`. Not deployed (folders starting with `_` are
// not functions); each function is deployed on its own from its index.ts.
//
//   DENO_SERVE_ADDRESS=tcp:127.0.0.1:54329 SUPABASE_URL=http://127.0.0.1:54321 \
//   SUPABASE_DB_URL=postgres://postgres@127.0.0.1:5432/viva OPENAI_API_KEY=... \
//   deno run --allow-net --allow-env _dev/serve.ts
//
// The environment is each function's (supabase/functions/_shared/config.ts); every handler is
// built from it once, with its own database pool, as each runs deployed.

import { makeHandler as interviewEnd } from "../interview-end/handler.ts";
import { makeHandler as interviewStart } from "../interview-start/handler.ts";
import { makeHandler as transcriptProcessor } from "../transcript-processor/handler.ts";
import { errorResponse, FunctionError } from "../_shared/http.ts";

type Handler = (req: Request) => Promise<Response>;

const env = Deno.env.toObject();
const handlers: ReadonlyMap<string, Handler> = new Map([
  ["interview-start", interviewStart(env)],
  ["transcript-processor", transcriptProcessor(env)],
  ["interview-end", interviewEnd(env)],
]);

/** The function a request names: the first segment of its path. */
function route(req: Request): Promise<Response> {
  const name = new URL(req.url).pathname.split("/")[1] ?? "";
  const handler = handlers.get(name);
  if (handler === undefined) {
    return Promise.resolve(
      errorResponse(new FunctionError(404, "not_found", `there is no function named "${name}"`)),
    );
  }
  return handler(req);
}

Deno.serve(route);
