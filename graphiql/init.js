// GraphiQL against this server's /graphql (served in development only; src/http/graphiql.rs).
// A session token goes in the Headers tab: {"authorization": "Bearer …"}.
(function () {
  'use strict';

  // GraphiQL's introspection query nests `ofType` nine levels deep, past the server's depth
  // limit (12, src/graphql/mod.rs), which refuses it. Six levels describe any type up to seven
  // wrappers deep (this schema's deepest is `[T!]!`, three), so GraphiQL gets the same schema
  // within the limit; a deeper type would show as GraphiQL's "deeper than introspection" error.
  const TYPE_REF = 'fragment TypeRef on __Type {'
    + ' kind name ofType {'.repeat(6) + ' kind name' + ' }'.repeat(6) + ' }\n';

  function withinDepthLimit(params) {
    const at = typeof params.query === 'string' ? params.query.indexOf('fragment TypeRef on __Type') : -1;
    if (params.operationName !== 'IntrospectionQuery' || at < 0) return params;
    return Object.assign({}, params, { query: params.query.slice(0, at) + TYPE_REF });
  }

  async function fetcher(graphQLParams, options) {
    const params = withinDepthLimit(graphQLParams);
    const headers = Object.assign(
      { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      (options && options.headers) || {},
    );
    const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify(params) });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (_) {
      return { errors: [{ message: `HTTP ${response.status}: ${text}` }] };
    }
  }

  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }));
})();
