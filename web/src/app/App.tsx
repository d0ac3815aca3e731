import { lazy, Suspense } from "react";
import { Navigate, Route, Routes } from "react-router";
import { useSession } from "../auth/session";
import { Loading } from "../components/Loading";
import { SignInPage } from "../pages/SignInPage";
import { DatabaseListPage } from "../pages/databases/DatabaseListPage";
import { Layout } from "./Layout";
import { HomeRedirect } from "./HomeRedirect";
import { NotFoundPage } from "./NotFoundPage";

const CreateDatabasePage = lazy(() => import("../pages/databases/create/CreateDatabasePage"));
const DatabasePage = lazy(() => import("../pages/databases/detail/DatabasePage"));
const AdminArea = lazy(() => import("./AdminArea"));

export function App() {
  const { state } = useSession();
  if (state.status === "loading") return <Loading what="your session" />;
  if (state.status === "signed-out") return <SignInPage />;
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<HomeRedirect />} />
        <Route path="sign-in" element={<Navigate to="/" replace />} />
        <Route path="d/:domain/p/:project/databases" element={<DatabaseListPage />} />
        <Route
          path="d/:domain/p/:project/databases/new"
          element={
            <Suspense fallback={<Loading what="the form" />}>
              <CreateDatabasePage />
            </Suspense>
          }
        />
        <Route
          path="d/:domain/p/:project/databases/:id/*"
          element={
            <Suspense fallback={<Loading what="the database" />}>
              <DatabasePage />
            </Suspense>
          }
        />
        <Route
          path="admin/*"
          element={
            <Suspense fallback={<Loading what="the admin pages" />}>
              <AdminArea />
            </Suspense>
          }
        />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
