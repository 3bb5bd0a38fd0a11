import { Select } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api, keys, literal, ok } from '../api';

/** The OData filter that finds a device by the start of its name or last IP address, any address it had, or a tag. */
export function searchFilter(term: string): string {
  const q = literal(term);
  return `startswith(computerDnsName,${q}) or startswith(lastIpAddress,${q}) or ipAddresses/any(a: a eq ${q}) or machineTags/any(t: t eq ${q})`;
}

/** The header's search box: type a name, IP address or tag, pick the device, and it opens. */
export function DeviceSearch() {
  const navigate = useNavigate();
  const [term, setTerm] = useState('');
  const [debounced] = useDebouncedValue(term.trim(), 200);
  const query = { $filter: searchFilter(debounced), $top: 10 };
  const found = useQuery({
    queryKey: keys.machines(query),
    enabled: debounced.length > 0,
    queryFn: () => ok(api.GET('/api/machines', { params: { query } })),
    staleTime: 5000,
  });
  const data = (found.data?.value ?? []).map((m) => ({ value: m.id, label: `${m.computerDnsName}${m.lastIpAddress ? ` — ${m.lastIpAddress}` : ''}` }));

  return (
    <Select
      aria-label="Search devices by name, IP address or tag"
      placeholder="Search devices: name, IP or tag"
      leftSection={<IconSearch size={16} />}
      searchable
      clearable
      searchValue={term}
      onSearchChange={setTerm}
      filter={({ options }) => options}
      data={data}
      value={null}
      onChange={(id) => {
        if (!id) return;
        setTerm('');
        void navigate(`/devices/${id}`);
      }}
      nothingFoundMessage={debounced ? (found.isFetching ? 'Searching…' : found.error ? 'Search failed' : 'No device matches') : undefined}
      selectFirstOptionOnChange
      w={360}
      data-testid="device-search"
    />
  );
}
