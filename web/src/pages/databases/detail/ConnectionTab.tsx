import { useState } from "react";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import type { Database } from "../../../api/types";
import { useScope } from "../../../app/scope";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { connectionCommands, type Credentials } from "./connectionStrings";

function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      onClick={() =>
        void navigator.clipboard.writeText(text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        })
      }
    >
      {copied ? "Copied" : label}
    </Button>
  );
}

export default function ConnectionTab({ db, writer }: { db: Database; writer: boolean }) {
  const scope = useScope();
  const [creds, setCreds] = useState<Credentials | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const reveal = async () => {
    setBusy(true);
    setError(null);
    try {
      setCreds(
        await unwrap(
          api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/credentials", {
            params: { path: { ...scope, id: db.id } },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel">
      <h2>Connection</h2>
      <dl className="facts">
        <dt>Host</dt>
        <dd>{db.endpoint ? <code>{db.endpoint}</code> : "Not assigned yet"}</dd>
        <dt>Port</dt>
        <dd>{db.port ?? "–"}</dd>
      </dl>
      {!writer ? (
        <p className="notice notice-info">Your role in this project is read-only: credentials are not shown to developers.</p>
      ) : creds === null ? (
        <>
          <p className="notice notice-info">Revealing the credentials is recorded in the audit log under your name.</p>
          <Button variant="primary" busy={busy} onClick={() => void reveal()}>
            Reveal credentials
          </Button>
          <ErrorNotice error={error} title="The credentials could not be read" />
        </>
      ) : (
        <>
          <p className="muted">This read was recorded in the audit log.</p>
          <div className="form-grid">
            <Field label="Username">{(p) => <input {...p} readOnly className="mono" value={creds.username} />}</Field>
            <Field label="Password">{(p) => <input {...p} readOnly className="mono" value={creds.password} />}</Field>
            {creds.database ? <Field label="Database name">{(p) => <input {...p} readOnly className="mono" value={creds.database ?? ""} />}</Field> : null}
          </div>
          <div className="page-actions">
            <CopyButton text={creds.username} label="Copy username" />
            <CopyButton text={creds.password} label="Copy password" />
          </div>
          <h3>Connect</h3>
          {connectionCommands(db.engine, creds).map((c) => (
            <figure key={c.tool} className="command">
              <figcaption className="secret">
                {c.tool} <CopyButton text={c.command} label={`Copy ${c.tool} command`} />
              </figcaption>
              {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex -- a scrolling block must take focus so the keyboard can scroll it (axe: scrollable-region-focusable) */}
              <pre className="conn" tabIndex={0}>
                {c.command}
              </pre>
            </figure>
          ))}
          <Button onClick={() => setCreds(null)}>Hide credentials</Button>
        </>
      )}
    </div>
  );
}
