/// The admin API's OpenAPI document, served at `/openapi.yaml` on the control socket. docs/admin-api.yaml is the
/// same text (a test compares them, and checks the running server's answers against it).
enum AdminAPIDocument {
    static let yaml = #"""
        openapi: 3.0.3
        info:
          title: Ferry admin API
          version: "1"
          description: >-
            The operator's API of `ferry serve`, on its control socket (<root>/.ferry/control.sock, 0600, the server's user
            and root only) and, with `admin.listen`, on a TCP address with a bearer token (`Authorization: Bearer TOKEN`);
            never on the partner port. Times are ISO 8601 in UTC with milliseconds and no offset
            (2026-12-07T14:50:26.385). A refusal is JSON with one `error` text that names the problem and what to do; a
            method a path does not take is 405 with `Allow`. The queue's paths are what `ferry queue`, `ferry schedule` and
            `ferry actions` use (docs/queue.md); on the TCP listener they change nothing with a console cookie alone.
        paths:
          /v1/transfers:
            get:
              summary: The server's ledger, newest first, filtered and paged
              operationId: listTransfers
              parameters:
                - $ref: "#/components/parameters/partner"
                - $ref: "#/components/parameters/direction"
                - $ref: "#/components/parameters/result"
                - name: operation
                  in: query
                  schema:
                    type: string
                    enum: [PUT, GET, DELETE, TUS, LIST, SEND, TLS, ACTION]
                - $ref: "#/components/parameters/path"
                - $ref: "#/components/parameters/since"
                - $ref: "#/components/parameters/until"
                - $ref: "#/components/parameters/limit"
                - $ref: "#/components/parameters/after"
              responses:
                "200":
                  description: A page of rows
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/TransferPage"
                "400":
                  $ref: "#/components/responses/BadRequest"
          /v1/transfers/{id}:
            get:
              summary: One ledger row with what explains it (for a failed handshake, its findings and trace)
              operationId: getTransfer
              parameters:
                - name: id
                  in: path
                  required: true
                  schema: {type: string}
              responses:
                "200":
                  description: The row, its findings (with this case's evidence while the server holds its trace), the trace
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/TransferDetail"
                "404":
                  $ref: "#/components/responses/NotFound"
          /v1/partners:
            get:
              summary: The configured partners, how each is recognised, what it may reach, its quota and when it was last seen
              operationId: listPartners
              responses:
                "200":
                  description: The partners by name
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "#/components/schemas/Partner"}
          /v1/certificates:
            get:
              summary: The certificates the server uses and trusts, with days to expiry
              operationId: listCertificates
              responses:
                "200":
                  description: The server's certificate and chain, the CAs it trusts, the partner bindings' CAs
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "#/components/schemas/Certificate"}
          /v1/handshakes:
            get:
              summary: Failed TLS handshakes (ledger rows with operation TLS), newest first
              operationId: listHandshakes
              parameters:
                - $ref: "#/components/parameters/partner"
                - $ref: "#/components/parameters/direction"
                - $ref: "#/components/parameters/result"
                - $ref: "#/components/parameters/path"
                - $ref: "#/components/parameters/since"
                - $ref: "#/components/parameters/until"
                - $ref: "#/components/parameters/limit"
                - $ref: "#/components/parameters/after"
              responses:
                "200":
                  description: A page of rows
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/TransferPage"
                "400":
                  $ref: "#/components/responses/BadRequest"
          /v1/health:
            get:
              summary: Whether the server runs and what it serves (no secrets)
              operationId: health
              responses:
                "200":
                  description: The server's state
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Health"
          /metrics:
            get:
              summary: Prometheus metrics (text exposition format 0.0.4); every metric is listed in docs/operations.md
              operationId: metrics
              responses:
                "200":
                  description: The metrics
                  content:
                    text/plain:
                      schema:
                        type: string
          /openapi.yaml:
            get:
              summary: This document
              operationId: openapi
              responses:
                "200":
                  description: The OpenAPI document
                  content:
                    application/yaml:
                      schema:
                        type: object
          /v1/queue:
            get:
              summary: The queue's entries, oldest first
              operationId: listQueue
              parameters:
                - name: state
                  in: query
                  description: Only entries in these states (comma-separated)
                  schema:
                    type: string
                    pattern: '^(scheduled|queued|active|retrying|held|done|failed|cancelled)(,(scheduled|queued|active|retrying|held|done|failed|cancelled))*$'
              responses:
                "200":
                  description: The entries
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "#/components/schemas/QueueEntry"}
                "400":
                  $ref: "#/components/responses/BadRequest"
            post:
              summary: Queue a transfer to or from a configured partner (`ferry queue add`)
              operationId: addToQueue
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/QueueRequest"}
                    example:
                      direction: get
                      partner: acme
                      local: /srv/ferry/incoming/report.csv
                      remote: out/report.csv
                      at: "2030-01-01T00:00:00Z"
              responses:
                "201":
                  description: The entry, scheduled (due later) or queued
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/QueueEntry"}
                "400":
                  $ref: "#/components/responses/BadRequest"
                "413":
                  $ref: "#/components/responses/TooLarge"
                "422":
                  $ref: "#/components/responses/Unprocessable"
          /v1/queue/purge:
            post:
              summary: Remove the finished entries (done, failed, cancelled) and their events
              operationId: purgeQueue
              responses:
                "200":
                  description: How many went
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [purged]
                        additionalProperties: false
                        properties:
                          purged: {type: integer, minimum: 0}
          /v1/queue/{id}:
            get:
              summary: One entry and every change of its state
              operationId: getQueueEntry
              parameters:
                - $ref: "#/components/parameters/entry"
              responses:
                "200":
                  description: The entry and its events
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/EntryDetail"}
                "404":
                  $ref: "#/components/responses/NotFound"
          /v1/queue/{id}/{action}:
            post:
              summary: Hold, release, retry now or cancel an entry
              operationId: changeQueueEntry
              parameters:
                - $ref: "#/components/parameters/entry"
                - name: action
                  in: path
                  required: true
                  schema: {type: string, enum: [hold, release, retry, cancel]}
              responses:
                "200":
                  description: The entry as it is now
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/QueueEntry"}
                "404":
                  $ref: "#/components/responses/NotFound"
                "409":
                  description: The entry's state does not allow it (a done entry cannot be held)
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Problem"}
          /v1/deliveries:
            get:
              summary: What the actions did with each event, newest first
              operationId: listDeliveries
              parameters:
                - name: state
                  in: query
                  description: Only deliveries in these states (comma-separated)
                  schema:
                    type: string
                    pattern: '^(pending|done|failed)(,(pending|done|failed))*$'
                - $ref: "#/components/parameters/limit"
              responses:
                "200":
                  description: The deliveries
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "#/components/schemas/Delivery"}
                "400":
                  $ref: "#/components/responses/BadRequest"
          /v1/schedules:
            get:
              summary: The recurring transfers
              operationId: listSchedules
              responses:
                "200":
                  description: The schedules
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "#/components/schemas/Schedule"}
            post:
              summary: Add a recurring transfer (`ferry schedule add`), every interval or by a cron expression
              operationId: addSchedule
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/ScheduleRequest"}
                    example:
                      cron: "30 6 * * 1-5"
                      timeZone: Europe/Berlin
                      transfer:
                        direction: get
                        partner: acme
                        local: /srv/ferry/incoming/
                        remote: out/daily.csv
              responses:
                "201":
                  description: The schedule
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Schedule"}
                "400":
                  $ref: "#/components/responses/BadRequest"
                "413":
                  $ref: "#/components/responses/TooLarge"
                "422":
                  $ref: "#/components/responses/Unprocessable"
          /v1/schedules/{id}:
            delete:
              summary: Remove a schedule (entries it already made stay)
              operationId: removeSchedule
              parameters:
                - name: id
                  in: path
                  required: true
                  schema: {type: string}
              responses:
                "204":
                  description: Removed
                "404":
                  $ref: "#/components/responses/NotFound"
        components:
          parameters:
            partner:
              name: partner
              in: query
              schema: {type: string}
            direction:
              name: direction
              in: query
              schema: {type: string, enum: [in, out]}
            result:
              name: result
              in: query
              schema: {type: string, enum: [ok, failed]}
            path:
              name: path
              in: query
              description: Rows whose path starts with this text
              schema: {type: string}
            since:
              name: since
              in: query
              description: Rows that ended at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z or 2026-12-01T09:30:00+01:00)
              schema: {type: string, format: date-time}
            until:
              name: until
              in: query
              description: Rows that ended before this time
              schema: {type: string, format: date-time}
            limit:
              name: limit
              in: query
              schema: {type: integer, minimum: 1, maximum: 10000, default: 100}
            entry:
              name: id
              in: path
              required: true
              schema: {type: string}
            after:
              name: after
              in: query
              description: The `next` cursor of the page before
              schema: {type: string, pattern: '^(?:[0-6][0-9a-f]{15}|[0-9a-f]{1,15})\.[0-9a-f-]{1,64}$'}
          responses:
            BadRequest:
              description: A filter that means nothing, or a body that is not the JSON asked for, with what would work
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Problem"}
            NotFound:
              description: Nothing has this id
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Problem"}
            TooLarge:
              description: A request body over 1 MiB
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Unprocessable:
              description: A request the configuration refuses (no such partner, a relative local path, a send of a file that is not there, a value out of range)
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Problem"}
          schemas:
            Problem:
              type: object
              required: [error]
              additionalProperties: false
              properties:
                error: {type: string}
            Time:
              type: string
              pattern: '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$'
            TransferPage:
              type: object
              required: [transfers]
              additionalProperties: false
              properties:
                transfers:
                  type: array
                  items: {$ref: "#/components/schemas/Transfer"}
                next:
                  type: string
                  description: Give as `after` for the next page; absent on the last page
            Transfer:
              type: object
              required: [id, direction, partner, operation, path, bytes, started, ended, result, findings]
              additionalProperties: false
              properties:
                id: {type: string}
                direction: {type: string, enum: [in, out]}
                partner: {type: string, description: "the partner, or - for a failed handshake (which names none)"}
                operation: {type: string}
                path: {type: string}
                bytes: {type: integer, format: int64, minimum: 0}
                sha256: {type: string, pattern: '^[0-9a-f]{64}$'}
                started: {$ref: "#/components/schemas/Time"}
                ended: {$ref: "#/components/schemas/Time"}
                result: {type: string, enum: [ok, failed]}
                error: {type: string}
                tlsVersion: {type: string}
                cipherSuite: {type: string}
                peerSubject: {type: string, description: "prefixed `unverified: ` when the certificate was not accepted"}
                peerIssuer: {type: string}
                peerSerial: {type: string}
                findings:
                  type: array
                  items: {type: string}
                fileSHA256: {type: string}
                conversion: {type: string}
            Health:
              type: object
              required: [status, version, started, listen, root, storage, database, partners]
              additionalProperties: false
              properties:
                status: {type: string, enum: [ok]}
                version: {type: string}
                started: {$ref: "#/components/schemas/Time"}
                listen: {type: string}
                root: {type: string}
                storage: {type: string}
                database: {type: string, description: "the SQLite file, or the PostgreSQL URL without its password"}
                partners:
                  type: array
                  items: {type: string}
                certificateExpires: {$ref: "#/components/schemas/Time"}
            TransferDetail:
              type: object
              required: [transfer, findings]
              additionalProperties: false
              properties:
                transfer: {$ref: "#/components/schemas/Transfer"}
                findings:
                  type: array
                  items: {$ref: "#/components/schemas/Finding"}
                trace:
                  type: string
                  description: The handshake as `ferry trace` shows it; present while the server holds it (its recent failures)
                queued:
                  $ref: "#/components/schemas/EntryDetail"
                  description: For a row of a queued transfer, while the queue keeps its entry
            Finding:
              type: object
              required: [id, severity, title, evidence, side, rule, fixes]
              additionalProperties: false
              properties:
                id: {type: string}
                severity: {type: string, enum: [error, warning, note]}
                title: {type: string}
                evidence:
                  type: array
                  items: {type: string}
                side: {type: string, enum: [local, peer, configuration, network]}
                rule: {type: string}
                fixes:
                  type: array
                  items: {type: string}
            Partner:
              type: object
              required: [name, bindings, areas, quota]
              additionalProperties: false
              properties:
                name: {type: string}
                url: {type: string}
                bindings:
                  type: array
                  description: "`subject DN`, `san dns:NAME`, `ca FILE`, `CN NAME`; empty: named by its certificate's CN"
                  items: {type: string}
                areas:
                  type: array
                  items:
                    type: object
                    required: [area, mount, rights]
                    additionalProperties: false
                    properties:
                      area: {type: string}
                      mount: {type: string, description: "empty for the partner's own folder"}
                      rights:
                        type: array
                        items: {type: string, enum: [read, write, delete]}
                      rule: {type: string}
                quota:
                  type: object
                  additionalProperties: false
                  properties:
                    bytes: {type: integer, format: int64}
                    files: {type: integer}
                    uploads: {type: integer}
                text: {type: string}
                lastSeen: {$ref: "#/components/schemas/Time"}
            Certificate:
              type: object
              required: [role, subject, issuer, serial, notBefore, notAfter, daysLeft, partners]
              additionalProperties: false
              properties:
                role: {type: string, enum: [server, server-chain, ca, partner-ca]}
                subject: {type: string}
                issuer: {type: string}
                serial: {type: string, pattern: '^[0-9a-f]*$'}
                notBefore: {$ref: "#/components/schemas/Time"}
                notAfter: {$ref: "#/components/schemas/Time"}
                daysLeft: {type: integer}
                partners:
                  type: array
                  items: {type: string}
            QueueRequest:
              type: object
              required: [direction, partner, local, remote]
              description: Optional fields given as null are taken as left out
              properties:
                direction: {type: string, enum: [send, get]}
                partner: {type: string, description: "a partner with a url in the server's configuration"}
                local: {type: string, description: "absolute; for send a file, folder or glob that exists (a glob may match later)"}
                remote: {type: string}
                priority: {nullable: true, type: integer, minimum: -1000, maximum: 1000}
                at: {nullable: true, type: string, format: date-time, description: "not before this time"}
                retry:
                  nullable: true
                  allOf: [{$ref: "#/components/schemas/RetryRequest"}]
                rateLimit: {nullable: true, type: integer, format: int64, minimum: 1, description: "bytes per second"}
                text:
                  type: object
                  nullable: true
                  description: "text mode (codepage, encoding, records, line-end, ...), as `ferry send --text`"
                  additionalProperties: {type: string}
            RetryRequest:
              type: object
              description: Left out, each takes the partner's setting (partners.NAME.queue, queue.*)
              properties:
                retries: {nullable: true, type: integer, minimum: -1, maximum: 1000000, description: "-1: no count limit"}
                retryWait: {nullable: true, type: number, exclusiveMinimum: true, minimum: 0, maximum: 3153600000}
                retryMaximumWait: {nullable: true, type: number, exclusiveMinimum: true, minimum: 0, maximum: 3153600000}
                deadline: {nullable: true, type: number, minimum: 0, maximum: 3153600000, description: "seconds after queueing; 0: none"}
                retryConfigurationErrors: {nullable: true, type: boolean}
            RetryRule:
              type: object
              required: [firstWait, maximumWait, retryPermanentFailures]
              additionalProperties: false
              properties:
                maximumRetries: {type: integer, description: "absent: no count limit"}
                firstWait: {type: number}
                maximumWait: {type: number}
                deadline: {type: number}
                retryPermanentFailures: {type: boolean}
            QueueState:
              type: string
              enum: [scheduled, queued, active, retrying, held, done, failed, cancelled]
            QueueEntry:
              type: object
              required: [id, direction, partner, local, remote, priority, notBefore, state, attempts, findings, retry, created, updated]
              additionalProperties: false
              properties:
                id: {type: string}
                direction: {type: string, enum: [send, get]}
                partner: {type: string}
                local: {type: string}
                remote: {type: string}
                priority: {type: integer}
                notBefore: {$ref: "#/components/schemas/Time"}
                state: {$ref: "#/components/schemas/QueueState"}
                attempts: {type: integer, minimum: 0}
                nextAttempt: {$ref: "#/components/schemas/Time"}
                lastError: {type: string}
                findings:
                  type: array
                  items: {type: string}
                exitCode: {type: integer}
                result: {type: string}
                rateLimit: {type: integer, format: int64}
                text:
                  type: object
                  additionalProperties: {type: string}
                origin: {type: string, description: "watch:NAME, action:NAME or schedule:ID; absent when a person queued it"}
                retry: {$ref: "#/components/schemas/RetryRule"}
                scheduleID: {type: string}
                created: {$ref: "#/components/schemas/Time"}
                updated: {$ref: "#/components/schemas/Time"}
                heldFrom: {$ref: "#/components/schemas/QueueState"}
            EntryDetail:
              type: object
              description: A queue entry and every change of its state (each attempt, each retry with its error)
              required: [entry, events]
              additionalProperties: false
              properties:
                entry: {$ref: "#/components/schemas/QueueEntry"}
                events:
                  type: array
                  items: {$ref: "#/components/schemas/QueueEvent"}
            QueueEvent:
              type: object
              required: [entryID, time, state, attempt]
              additionalProperties: false
              properties:
                entryID: {type: string}
                time: {$ref: "#/components/schemas/Time"}
                state: {$ref: "#/components/schemas/QueueState"}
                attempt: {type: integer, minimum: 0}
                message: {type: string}
            ScheduleRequest:
              type: object
              required: [transfer]
              description: Either every (seconds, at least 60) or cron (five fields or a shorthand) with timeZone (IANA, default UTC)
              properties:
                every: {nullable: true, type: number, minimum: 60, maximum: 3153600000}
                cron: {nullable: true, type: string}
                timeZone: {nullable: true, type: string}
                transfer: {$ref: "#/components/schemas/QueueRequest"}
                holds:
                  type: array
                  nullable: true
                  description: Periods in which no occurrence fires
                  items:
                    type: object
                    required: [start, duration]
                    properties:
                      start: {type: string, format: date-time}
                      duration: {type: number, exclusiveMinimum: true, minimum: 0}
            Schedule:
              type: object
              required: [id, recurrence, direction, partner, local, remote, priority, retry, holds, anchor]
              additionalProperties: false
              properties:
                id: {type: string}
                recurrence:
                  type: object
                  description: "{every: {seconds}} or {cron: {expression, timeZone}}"
                  additionalProperties: false
                  properties:
                    every:
                      type: object
                      required: [seconds]
                      additionalProperties: false
                      properties:
                        seconds: {type: number}
                    cron:
                      type: object
                      required: [expression, timeZone]
                      additionalProperties: false
                      properties:
                        expression: {type: string}
                        timeZone: {type: string}
                direction: {type: string, enum: [send, get]}
                partner: {type: string}
                local: {type: string}
                remote: {type: string}
                priority: {type: integer}
                retry: {$ref: "#/components/schemas/RetryRule"}
                holds:
                  type: array
                  items:
                    type: object
                    required: [start, duration]
                    additionalProperties: false
                    properties:
                      start: {$ref: "#/components/schemas/Time"}
                      duration: {type: number}
                anchor: {$ref: "#/components/schemas/Time"}
                lastOccurrence: {$ref: "#/components/schemas/Time"}
            Delivery:
              type: object
              required: [action, state, attempts, nextAttempt, event]
              additionalProperties: false
              properties:
                action: {type: string}
                state: {type: string, enum: [pending, done, failed]}
                attempts: {type: integer, minimum: 0}
                nextAttempt: {$ref: "#/components/schemas/Time"}
                detail: {type: string, description: "a command's exit status and output tail, a webhook's answer, or the error"}
                event: {$ref: "#/components/schemas/Event"}
            Event:
              type: object
              required: [id, type, time]
              additionalProperties: false
              properties:
                id: {type: string}
                type: {type: string}
                time: {$ref: "#/components/schemas/Time"}
                partner: {type: string}
                direction: {type: string}
                entry: {type: string}
                state: {type: string}
                attempt: {type: integer}
                local: {type: string}
                remote: {type: string}
                bytes: {type: integer, format: int64}
                sha256: {type: string}
                message: {type: string}
                findings:
                  type: array
                  items: {type: string}
                exitCode: {type: integer}
                origin: {type: string}
        """#
}
