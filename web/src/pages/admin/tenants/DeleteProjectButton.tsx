import { useState } from "react";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { useDeleteProject } from "./queries";

/** Deletes a project after its name is typed; says first what that means. */
export function DeleteProjectButton({ domain, project, onDeleted }: { domain: string; project: string; onDeleted?: () => void }) {
  const [open, setOpen] = useState(false);
  const del = useDeleteProject(domain);
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Delete<span className="visually-hidden"> the project {project}</span>
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={`Delete the project ${project}`}
        confirmLabel="Delete project"
        danger
        typeToConfirm={project}
        onConfirm={async () => {
          await del.mutateAsync(project);
          onDeleted?.();
        }}
      >
        <p>
          The project, its quota and its memberships are removed. The server refuses while databases still live in it:
          delete them first.
        </p>
      </ConfirmDialog>
    </>
  );
}
