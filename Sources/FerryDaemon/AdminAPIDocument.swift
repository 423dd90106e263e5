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
            (2026-12-07T14:50:26.385). The queue's own paths (/v1/queue, /v1/schedules, /v1/deliveries) are described in
            docs/queue.md.
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
            after:
              name: after
              in: query
              description: The `next` cursor of the page before
              schema: {type: string, pattern: '^(?:[0-6][0-9a-f]{15}|[0-9a-f]{1,15})\.[0-9a-f-]{1,64}$'}
          responses:
            BadRequest:
              description: A filter that means nothing, with the values that would work
              content:
                application/json:
                  schema:
                    type: object
                    required: [error]
                    properties:
                      error: {type: string}
            NotFound:
              description: Nothing has this id
              content:
                application/json:
                  schema:
                    type: object
                    required: [error]
                    properties:
                      error: {type: string}
          schemas:
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
        """#
}
