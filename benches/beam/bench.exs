# The Elixir side of benches/beam_side_by_side.sh.
#
# As a target (`elixir ... bench.exs serve`): registers `:ping`, answering {:ping, t} with
# {:pong, {:ping, t}}, counting {:count, _} casts and answering :counted with the count, as
# examples/elixir_bridge.rs's `ping` does.
#
# As the caller (`elixir ... bench.exs measure TARGET... --quick`): for each payload size and
# each target in turn (alternating, in the same minutes), the p50/p99 of GenServer.call,
# calls/s with 1, 8 and 64 callers, and casts/s from one sender; one line of key=value each.

defmodule Ping do
  use GenServer
  def init(_), do: {:ok, 0}
  def handle_call({:ping, t}, _from, n), do: {:reply, {:pong, {:ping, t}}, n}
  def handle_call(:counted, _from, n), do: {:reply, n, n}
  def handle_cast({:count, _}, n), do: {:noreply, n + 1}
end

defmodule Bench do
  def latency(target, size, calls) do
    t = String.duplicate("x", size)
    warm = div(calls, 10)
    for _ <- 1..warm, do: GenServer.call({:ping, target}, {:ping, t})
    took =
      for _ <- 1..calls do
        s = System.monotonic_time(:nanosecond)
        GenServer.call({:ping, target}, {:ping, t})
        System.monotonic_time(:nanosecond) - s
      end
      |> Enum.sort()
    at = fn q -> Enum.at(took, min(trunc(length(took) * q), length(took) - 1)) / 1000 end
    {at.(0.5), at.(0.99)}
  end

  def throughput(target, callers, seconds) do
    t = String.duplicate("x", 32)
    deadline = System.monotonic_time(:millisecond) + seconds * 1000
    parent = self()
    for _ <- 1..callers do
      spawn(fn ->
        n = loop(target, t, deadline, 0)
        send(parent, {:done, n})
      end)
    end
    total = Enum.reduce(1..callers, 0, fn _, acc -> receive do {:done, n} -> acc + n end end)
    total / seconds
  end

  defp loop(target, t, deadline, n) do
    if System.monotonic_time(:millisecond) >= deadline do
      n
    else
      GenServer.call({:ping, target}, {:ping, t})
      loop(target, t, deadline, n + 1)
    end
  end

  def casts(target, count) do
    before = GenServer.call({:ping, target}, :counted)
    s = System.monotonic_time(:nanosecond)
    payload = String.duplicate("x", 32)
    for _ <- 1..count, do: GenServer.cast({:ping, target}, {:count, payload})
    # The same sender's casts arrive in order: the count answers once all have been handled.
    wait(target, before + count)
    count / ((System.monotonic_time(:nanosecond) - s) / 1.0e9)
  end

  defp wait(target, want) do
    if GenServer.call({:ping, target}, :counted, 60_000) < want, do: wait(target, want)
  end
end

case System.argv() do
  ["serve"] ->
    {:ok, _} = GenServer.start(Ping, nil, name: :ping)
    IO.puts("ready")
    Process.sleep(:infinity)

  ["measure" | rest] ->
    quick = "--quick" in rest
    targets = Enum.map(rest -- ["--quick"], &String.to_atom/1)
    for t <- targets, do: true = Node.connect(t)
    {calls, secs, casts, rounds} = if quick, do: {200, 1, 2_000, 1}, else: {10_000, 3, 100_000, 3}
    for round <- 1..rounds, size <- [32, 4096, 65536], t <- targets do
      {p50, p99} = Bench.latency(t, size, calls)
      IO.puts("row round=#{round} target=#{t} kind=call bytes=#{size} p50_us=#{Float.round(p50, 1)} p99_us=#{Float.round(p99, 1)}")
    end
    for round <- 1..rounds, callers <- [1, 8, 64], t <- targets do
      IO.puts("row round=#{round} target=#{t} kind=throughput callers=#{callers} calls_per_s=#{round(Bench.throughput(t, callers, secs))}")
    end
    for round <- 1..rounds, t <- targets do
      IO.puts("row round=#{round} target=#{t} kind=casts casts_per_s=#{round(Bench.casts(t, casts))}")
    end
end
