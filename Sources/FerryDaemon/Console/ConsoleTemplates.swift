/// The console's pages as Mustache templates (HTML-escaped by default: `{{value}}`), kept in the binary so a
/// server needs no files beside it. `head` and `foot` frame every page; no JavaScript.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "head": head, "foot": foot, "overview": overview, "transfers": transfers, "transfer": transfer,
        "handshakes": handshakes, "partners": partners, "certificates": certificates, "queue": queue, "login": login,
        "problem": problem,
    ]

    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Ferry</title>
        <link rel="stylesheet" href="/console/style.css">
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
        <p class="brand">Ferry <span>{{server}}</span></p>
        <nav aria-label="Console">
        <ul>
        {{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>
        {{/nav}}
        </ul>
        </nav>
        {{#session}}<form method="post" action="/console/logout" class="logout"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out</button></form>{{/session}}
        </header>
        <main id="main">
        <h1>{{title}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        """

    static let foot = """
        </main>
        <footer><p>Times in UTC · Ferry {{version}} · <a href="/openapi.yaml">admin API</a> · <a href="/metrics">metrics</a></p></footer>
        </body>
        </html>
        """

    static let overview = """
        {{> head}}
        <section aria-labelledby="day">
        <h2 id="day">The last 24 hours</h2>
        <dl class="cards">
        <div><dt>Transfers</dt><dd>{{day.transfers}}</dd></div>
        <div><dt>Failed transfers</dt><dd><a href="/console/transfers?result=failed">{{day.failed}}</a></dd></div>
        <div><dt>Failed handshakes</dt><dd><a href="/console/handshakes">{{day.handshakes}}</a></dd></div>
        <div><dt>Bytes moved</dt><dd>{{day.bytes}}</dd></div>
        {{#queue}}<div><dt>Queue: {{state}}</dt><dd><a href="/console/queue">{{count}}</a></dd></div>{{/queue}}
        </dl>
        {{#truncated}}<p class="note">Counted from the newest 10,000 rows of the day.</p>{{/truncated}}
        </section>
        <section aria-labelledby="hours">
        <h2 id="hours">Transfers per hour</h2>
        <table>
        <thead><tr><th scope="col">Hour (UTC)</th><th scope="col">Succeeded</th><th scope="col">Failed</th><th scope="col">Share of the busiest hour</th></tr></thead>
        <tbody>
        {{#hours}}<tr><th scope="row">{{hour}}</th><td>{{ok}}</td><td>{{failed}}</td><td><meter min="0" max="{{busiest}}" value="{{total}}" aria-label="{{total}} transfers at {{hour}}">{{total}}</meter></td></tr>
        {{/hours}}
        {{^hours}}<tr><td colspan="4">No transfers in the last 24 hours.</td></tr>{{/hours}}
        </tbody>
        </table>
        </section>
        <section aria-labelledby="expiring">
        <h2 id="expiring">Certificates expiring</h2>
        {{#hasExpiring}}<ul>{{/hasExpiring}}
        {{#expiring}}<li class="{{level}}">{{subject}} ({{role}}): {{days}}, on {{notAfter}}</li>
        {{/expiring}}
        {{#hasExpiring}}</ul>{{/hasExpiring}}
        {{^expiring}}<p>No certificate in use expires within {{warningDays}} days.</p>{{/expiring}}
        </section>
        <section aria-labelledby="server">
        <h2 id="server">Server</h2>
        <dl class="facts">
        <dt>Partner address</dt><dd>{{health.listen}}</dd>
        <dt>Started</dt><dd>{{started}}</dd>
        <dt>Storage</dt><dd>{{health.storage}}</dd>
        <dt>Database</dt><dd>{{health.database}}</dd>
        </dl>
        </section>
        {{> foot}}
        """

    static let transferFilter = """
        <form method="get" action="{{action}}" class="filter" role="search">
        <label for="partner">Partner</label><input id="partner" name="partner" value="{{filter.partner}}">
        {{^handshakesOnly}}<label for="direction">Direction</label>
        <select id="direction" name="direction">{{#directions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/directions}}</select>
        <label for="result">Result</label>
        <select id="result" name="result">{{#results}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/results}}</select>
        <label for="path">Path starts with</label><input id="path" name="path" value="{{filter.path}}">{{/handshakesOnly}}
        <button type="submit">Search</button>
        </form>
        """

    static let transfers = """
        {{> head}}
        \(transferFilter)
        <table>
        <caption>{{caption}}</caption>
        <thead><tr><th scope="col">Ended</th><th scope="col">Partner</th><th scope="col">Operation</th><th scope="col">Path</th><th scope="col">Bytes</th><th scope="col">Result</th></tr></thead>
        <tbody>
        {{#rows}}<tr class="{{result}}"><td><a href="/console/transfers/{{id}}">{{ended}}</a></td><td>{{partner}}</td><td>{{operation}} {{direction}}</td><td class="path">{{path}}</td><td class="number">{{bytes}}</td><td>{{result}}{{#error}}: {{error}}{{/error}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="6">No transfers match.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{#next}}<p><a href="{{next}}" rel="next">Older transfers</a></p>{{/next}}
        {{> foot}}
        """

    static let handshakes = """
        {{> head}}
        <p>Handshakes that failed before a partner was known. The certificate shown is the one the client offered, not
        verified: it names no partner.</p>
        \(transferFilter)
        <table>
        <caption>{{caption}}</caption>
        <thead><tr><th scope="col">Ended</th><th scope="col">What happened</th><th scope="col">Certificate offered (unverified)</th><th scope="col">Findings</th></tr></thead>
        <tbody>
        {{#rows}}<tr><td><a href="/console/transfers/{{id}}">{{ended}}</a></td><td>{{error}}</td><td>{{peerSubject}}</td><td>{{findings}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="4">No failed handshakes.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{#next}}<p><a href="{{next}}" rel="next">Older handshakes</a></p>{{/next}}
        {{> foot}}
        """

    static let transfer = """
        {{> head}}
        <dl class="facts">
        {{#facts}}<dt>{{name}}</dt><dd>{{value}}</dd>
        {{/facts}}
        </dl>
        {{#queued}}<h2>Queued transfer and its attempts</h2>
        <p>Queue entry <code>{{id}}</code>, now {{state}}{{#origin}}, queued by {{origin}}{{/origin}}.</p>
        <table>
        <caption>Every change of the entry's state, oldest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">State</th><th scope="col">Attempt</th><th scope="col">Message</th></tr></thead>
        <tbody>
        {{#events}}<tr class="{{state}}"><td>{{time}}</td><td>{{state}}</td><td class="number">{{attempt}}</td><td>{{message}}</td></tr>
        {{/events}}
        </tbody>
        </table>
        {{/queued}}
        {{#hasFindings}}<h2>Diagnosis</h2>{{/hasFindings}}
        {{#findings}}<section class="finding {{severity}}" aria-labelledby="finding-{{id}}">
        <h3 id="finding-{{id}}">{{title}}</h3>
        <p class="meta">{{severity}} · {{side}} · <code>{{id}}</code></p>
        {{#hasEvidence}}<h4>Evidence</h4><ul>{{/hasEvidence}}{{#evidence}}<li>{{.}}</li>{{/evidence}}{{#hasEvidence}}</ul>{{/hasEvidence}}
        <h4>Rule</h4><p>{{rule}}</p>
        {{#hasFixes}}<h4>Fix</h4><ol>{{/hasFixes}}{{#fixes}}<li>{{.}}</li>{{/fixes}}{{#hasFixes}}</ol>{{/hasFixes}}
        </section>
        {{/findings}}
        {{#isHandshake}}<h2>Trace</h2>
        {{#trace}}<pre aria-label="Handshake trace, arrows marked -> were sent by this server">{{trace}}</pre>{{/trace}}
        {{^trace}}<p>The server no longer holds this handshake's trace (it keeps its most recent failures since it started). It is in the server's log, and in the capture folder when <code>server.trace.pcapng-dir</code> is set.</p>{{/trace}}
        {{/isHandshake}}
        {{> foot}}
        """

    static let partners = """
        {{> head}}
        <table>
        <caption>{{count}} configured partners</caption>
        <thead><tr><th scope="col">Partner</th><th scope="col">Recognised by</th><th scope="col">Areas and rights</th><th scope="col">Quota</th><th scope="col">Last seen</th></tr></thead>
        <tbody>
        {{#rows}}<tr><th scope="row"><a href="/console/transfers?partner={{query}}">{{name}}</a>{{#url}}<br><span class="note">{{url}}</span>{{/url}}</th>
        <td>{{#hasBindings}}<ul>{{/hasBindings}}{{#bindings}}<li>{{.}}</li>{{/bindings}}{{#hasBindings}}</ul>{{/hasBindings}}{{^bindings}}its certificate's CN, from a CA allowed to name partners{{/bindings}}</td>
        <td><ul>{{#areas}}<li>{{area}} as /{{mount}}: {{rights}}</li>{{/areas}}</ul>{{#text}}<span class="note">text: {{text}}</span>{{/text}}</td>
        <td>{{quota}}</td><td>{{lastSeen}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="5">No partners are configured: clients are named by their certificate's CN.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{> foot}}
        """

    static let certificates = """
        {{> head}}
        <table>
        <caption>Certificates in use, soonest to expire first</caption>
        <thead><tr><th scope="col">Role</th><th scope="col">Subject</th><th scope="col">Issuer</th><th scope="col">Serial</th><th scope="col">Expires</th><th scope="col">Days left</th></tr></thead>
        <tbody>
        {{#rows}}<tr class="{{level}}"><td>{{role}}{{#partners}} ({{partners}}){{/partners}}</td><td>{{subject}}</td><td>{{issuer}}</td><td><code>{{serial}}</code></td><td>{{notAfter}}</td><td class="number">{{days}}</td></tr>
        {{/rows}}
        </tbody>
        </table>
        {{> foot}}
        """

    static let queue = """
        {{> head}}
        <form method="get" action="/console/queue" class="filter">
        <label for="state">State</label>
        <select id="state" name="state">{{#states}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/states}}</select>
        <button type="submit">Show</button>
        </form>
        <table>
        <caption>{{caption}}</caption>
        <thead><tr><th scope="col">Entry</th><th scope="col">State</th><th scope="col">Transfer</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Actions</th></tr></thead>
        <tbody>
        {{#rows}}<tr class="{{state}}"><td><code>{{shortID}}</code></td><td>{{state}}</td><td>{{direction}} {{partner}}: {{local}} ⇄ {{remote}}</td><td class="number">{{attempts}}</td><td>{{lastError}}</td>
        <td class="actions">{{#actions}}<form method="post" action="/console/queue/{{id}}/{{action}}"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" aria-label="{{label}} entry {{shortID}}">{{label}}</button></form>{{/actions}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="6">The queue has no entries in this state.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{> foot}}
        """

    static let login = """
        {{> head}}
        <form method="post" action="/console/login" class="login">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
        </form>
        <p class="note">The token is the content of the file <code>admin.token-file</code> names in the server's configuration.</p>
        {{> foot}}
        """

    static let problem = """
        {{> head}}
        <p class="problem" role="alert">{{message}}</p>
        <p><a href="/console">Back to the overview</a></p>
        {{> foot}}
        """

    /// Colours meet WCAG AA contrast (4.5:1 for text) on their backgrounds; a test checks the pairs.
    static let style = """
        :root { --text: #1b1f24; --back: #ffffff; --muted: #4a5560; --line: #d0d7de; --accent: #0b5cad;
          --bad: #a4161a; --bad-back: #fdecea; --warn: #7a4d00; --warn-back: #fff4d6; --head-back: #0f2a44; --head-text: #ffffff; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--text); background: var(--back); }
        a { color: var(--accent); }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 8px; top: 8px; background: var(--back); padding: 4px; }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 8px 20px; background: var(--head-back); color: var(--head-text); }
        header a { color: var(--head-text); }
        .brand { font-weight: 700; margin: 0; }
        .brand span { font-weight: 400; }
        nav ul { display: flex; gap: 14px; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
        .logout { margin-left: auto; }
        main { padding: 12px 20px 24px; max-width: 1400px; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
        caption { text-align: left; color: var(--muted); padding: 4px 0; }
        th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
        .number { text-align: right; font-variant-numeric: tabular-nums; }
        .path { word-break: break-all; }
        tr.failed td, li.expired, tr.expired td { background: var(--bad-back); color: var(--bad); }
        li.due, tr.due td { background: var(--warn-back); color: var(--warn); }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; }
        .cards div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; }
        .cards dt { color: var(--muted); }
        .cards dd { margin: 0; font-size: 1.6em; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
        .facts dt { color: var(--muted); }
        .facts dd { margin: 0; word-break: break-all; }
        .filter, .login { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 8px 0; }
        .actions form { display: inline; }
        button { font: inherit; padding: 3px 10px; }
        pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px; overflow-x: auto; }
        .finding { border-left: 4px solid var(--line); padding-left: 12px; margin: 12px 0; }
        .finding.error { border-color: var(--bad); }
        .finding.warning { border-color: var(--warn); }
        .meta, .note { color: var(--muted); }
        .notice { background: #e8f3ff; padding: 6px 10px; }
        .problem { color: var(--bad); background: var(--bad-back); padding: 6px 10px; }
        meter { width: 100%; max-width: 420px; }
        footer { color: var(--muted); padding: 0 20px 20px; }
        """
}
