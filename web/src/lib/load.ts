// Loads a screen's data; a failure is kept (never a blank screen) with a reload to retry.
import { useCallback, useEffect, useState } from "react";
import { asFailure } from "./api";
import type { Failure } from "./problems";

export interface Loaded<T> {
  data: T | null;
  failure: Failure | null;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const run = useCallback(load, deps);
  useEffect(() => {
    let live = true;
    setLoading(true);
    run().then(
      (value) => { if (live) { setData(value); setFailure(null); setLoading(false); } },
      (error: unknown) => { if (live) { setFailure(asFailure(error)); setLoading(false); } },
    );
    return () => { live = false; };
  }, [run, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []); // stable: an effect may depend on it
  return { data, failure, loading, reload };
}
