import { useEffect, useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { z } from "zod";
import { ApiProblem, networkProblem } from "../api/errors";
import { useSession } from "../auth/session";
import { Button } from "../components/Button";
import { ErrorNotice } from "../components/ErrorNotice";
import { Field } from "../components/Field";

const schema = z.object({
  email: z.string().trim().min(1, "Enter your e-mail address").email("Enter a valid e-mail address"),
  password: z.string().min(1, "Enter your password"),
});
type Values = z.infer<typeof schema>;

export function SignInPage() {
  const { login } = useSession();
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const { register, handleSubmit, formState } = useForm<Values>({ resolver: zodResolver(schema) });

  useEffect(() => {
    document.title = "Sign in · kubedb-dbaas";
  }, []);

  const submit = handleSubmit(async ({ email, password }) => {
    setProblem(null);
    try {
      await login(email, password);
    } catch (err) {
      setProblem(err instanceof ApiProblem ? err : networkProblem(err));
    }
  });

  const e = formState.errors;
  return (
    <main className="signin">
      <h1>Sign in to kubedb-dbaas</h1>
      <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate>
        <ErrorNotice error={problem} />
        <Field label="E-mail" error={e.email?.message ?? problem?.fieldMessage("email")}>
          {(p) => <input {...p} type="email" autoComplete="username" {...register("email")} />}
        </Field>
        <Field label="Password" error={e.password?.message ?? problem?.fieldMessage("password")}>
          {(p) => <input {...p} type="password" autoComplete="current-password" {...register("password")} />}
        </Field>
        <Button type="submit" variant="primary" busy={formState.isSubmitting}>
          Sign in
        </Button>
      </form>
    </main>
  );
}
